package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/jwtgate/jwtgate/pkg/meter"
)

const redisDir = "kubernetes-redis"

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef *struct {
			Name string `yaml:"name"`
			Key  string `yaml:"key"`
		} `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

type redisPod struct {
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				SecurityContext securityContext `yaml:"securityContext"`
				Containers      []struct {
					Name  string   `yaml:"name"`
					Image string   `yaml:"image"`
					Args  []string `yaml:"args"`
					Env   []envVar `yaml:"env"`
					Ports []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
					} `yaml:"ports"`
					SecurityContext securityContext `yaml:"securityContext"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// objectsIn parses the YAML documents of file.
func objectsIn(t *testing.T, file string) []*object {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []*object
	for _, doc := range strings.Split(string(b), "\n---\n") {
		o := &object{file: filepath.Base(file), raw: []byte(doc)}
		if err := yaml.Unmarshal(o.raw, o); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if o.Kind == "" || o.Metadata.Name == "" {
			t.Fatalf("%s: a document without kind or metadata.name", file)
		}
		out = append(out, o)
	}
	return out
}

// secretRef returns the Secret name and key env var name is taken from.
func secretRef(t *testing.T, env []envVar, name string) (string, string) {
	t.Helper()
	for _, e := range env {
		if e.Name == name {
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				t.Fatalf("%s is not taken from a Secret", name)
			}
			return e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key
		}
	}
	t.Fatalf("no %s in the environment", name)
	return "", ""
}

// TestKubernetesRedisOverlay checks the overlay that adds a Redis for the
// session counters: it builds on the base, its patch points the base's
// jwtgate container at the Redis Service with the password of the Secret Redis
// requires, the URL loads with jwtgate's loader and names that Service's host
// and port, and only jwtgate's pods may reach Redis.
func TestKubernetesRedisOverlay(t *testing.T) {
	var k struct {
		Namespace string   `yaml:"namespace"`
		Resources []string `yaml:"resources"`
		Patches   []struct {
			Path string `yaml:"path"`
		} `yaml:"patches"`
	}
	b, err := os.ReadFile(filepath.Join(redisDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(k.Resources, "../"+kubeDir) || !slices.Contains(k.Resources, "redis.yaml") {
		t.Errorf("resources %q, want the base ../%s and redis.yaml", k.Resources, kubeDir)
	}
	if slices.Contains(k.Resources, "secret.example.yaml") {
		t.Error("the overlay deploys the example Secret and its placeholder")
	}
	if len(k.Patches) != 1 {
		t.Fatalf("patches %+v, want one", k.Patches)
	}
	base := manifests(t)
	if ns := only(t, base, "Namespace", ""); ns.Metadata.Name != k.Namespace {
		t.Errorf("overlay namespace %q, base %q", k.Namespace, ns.Metadata.Name)
	}

	// The patch: the base's Deployment and container, by name.
	var dep deployment
	baseDep := only(t, base, "Deployment", "")
	decodeInto(t, baseDep, &dep)
	patches := objectsIn(t, filepath.Join(redisDir, k.Patches[0].Path))
	if len(patches) != 1 || patches[0].Kind != "Deployment" || patches[0].Metadata.Name != baseDep.Metadata.Name {
		t.Fatalf("the patch is not one Deployment %s", baseDep.Metadata.Name)
	}
	var patch redisPod
	decodeInto(t, patches[0], &patch)
	pc := patch.Spec.Template.Spec.Containers
	if len(pc) != 1 || pc[0].Name != dep.Spec.Template.Spec.Containers[0].Name {
		t.Fatalf("the patch's container is not the base's %q", dep.Spec.Template.Spec.Containers[0].Name)
	}
	secretName, secretKey := secretRef(t, pc[0].Env, "REDIS_PASSWORD")
	var rawURL string
	for i, e := range pc[0].Env {
		if e.Name == "JWTGATE_LIMITS_REDIS_URL" {
			rawURL = e.Value
			if !slices.ContainsFunc(pc[0].Env[:i], func(p envVar) bool { return p.Name == "REDIS_PASSWORD" }) {
				t.Error("REDIS_PASSWORD is defined after the URL that refers to it: Kubernetes would not expand it")
			}
		}
	}
	if !strings.Contains(rawURL, "$(REDIS_PASSWORD)") {
		t.Fatalf("JWTGATE_LIMITS_REDIS_URL %q does not take the password from REDIS_PASSWORD", rawURL)
	}

	// The example Secret has that key, and its placeholder is not a password.
	secretObjs := objectsIn(t, filepath.Join(redisDir, "secret.example.yaml"))
	var secret struct {
		StringData map[string]string `yaml:"stringData"`
	}
	decodeInto(t, secretObjs[0], &secret)
	if secretObjs[0].Metadata.Name != secretName || secret.StringData[secretKey] == "" {
		t.Errorf("the example Secret %s has no %q; the patch reads %s/%s", secretObjs[0].Metadata.Name, secretKey, secretName, secretKey)
	}

	// Redis: its Service, port and password.
	objs := objectsIn(t, filepath.Join(redisDir, "redis.yaml"))
	redisDep := only(t, objs, "Deployment", "")
	var rd redisPod
	decodeInto(t, redisDep, &rd)
	rc := rd.Spec.Template.Spec.Containers
	if len(rc) != 1 {
		t.Fatalf("%d Redis containers, want 1", len(rc))
	}
	if n, key := secretRef(t, rc[0].Env, "REDIS_PASSWORD"); n != secretName || key != secretKey {
		t.Errorf("Redis takes its password from %s/%s, jwtgate from %s/%s", n, key, secretName, secretKey)
	}
	args := strings.Join(rc[0].Args, " ")
	for _, want := range []string{"--requirepass $(REDIS_PASSWORD)", `--save `, "--appendonly no"} {
		if !strings.Contains(args, want) {
			t.Errorf("Redis args %q lack %q", rc[0].Args, want)
		}
	}
	sc := rc[0].SecurityContext
	if !isTrue(sc.ReadOnlyRootFilesystem) || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		!slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || !isTrue(rd.Spec.Template.Spec.SecurityContext.RunAsNonRoot) {
		t.Errorf("Redis security context %+v is not locked down", sc)
	}
	var svc struct {
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Port       int    `yaml:"port"`
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	decodeInto(t, only(t, objs, "Service", ""), &svc)
	for key, v := range svc.Spec.Selector {
		if rd.Spec.Template.Metadata.Labels[key] != v {
			t.Errorf("the Redis Service's selector %s=%s is not a Redis pod label", key, v)
		}
	}
	selectsJwtgate := true
	for key, v := range svc.Spec.Selector {
		if dep.Spec.Template.Metadata.Labels[key] != v {
			selectsJwtgate = false
		}
	}
	if selectsJwtgate {
		t.Error("the Redis Service selects jwtgate's pods too")
	}
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("Redis Service ports %+v, want one", svc.Spec.Ports)
	}
	containerPort := 0
	for _, p := range rc[0].Ports {
		if p.Name == svc.Spec.Ports[0].TargetPort {
			containerPort = p.ContainerPort
		}
	}
	if i := slices.Index(rc[0].Args, "--port"); i < 0 || i+1 >= len(rc[0].Args) || rc[0].Args[i+1] != strconv.Itoa(containerPort) {
		t.Errorf("Redis listens on %q, its container port %s is %d", rc[0].Args, svc.Spec.Ports[0].TargetPort, containerPort)
	}

	// The URL, with a password as secret.example.yaml says to make one, loads
	// with the base's configuration and names the Service.
	pw := make([]byte, 32)
	rand.Read(pw)
	url := strings.ReplaceAll(rawURL, "$(REDIS_PASSWORD)", hex.EncodeToString(pw))
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	decodeInto(t, only(t, base, "ConfigMap", ""), &cm)
	cfg, err := loadConfig(t, cm.Data["jwtgate.yaml"], goodSecret, "JWTGATE_LIMITS_REDIS_URL="+url)
	if err != nil {
		t.Fatalf("the base configuration with the overlay's URL does not load: %v", err)
	}
	if string(cfg.Limits.RedisURL) != url {
		t.Errorf("limits.redis_url is %s, want the overlay's", cfg.Limits.RedisURL)
	}
	opts, err := meter.ParseRedisURL(url)
	if err != nil {
		t.Fatal(err)
	}
	if want := net.JoinHostPort(svc.Metadata.Name, strconv.Itoa(svc.Spec.Ports[0].Port)); opts.Addr != want {
		t.Errorf("limits.redis_url names %s, the Service is %s", opts.Addr, want)
	}
	if opts.Password != hex.EncodeToString(pw) {
		t.Error("the URL's password is not the Secret's")
	}

	// Only jwtgate's pods reach Redis.
	var np struct {
		Spec struct {
			PodSelector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"podSelector"`
			Ingress []struct {
				From []struct {
					PodSelector struct {
						MatchLabels map[string]string `yaml:"matchLabels"`
					} `yaml:"podSelector"`
				} `yaml:"from"`
			} `yaml:"ingress"`
		} `yaml:"spec"`
	}
	decodeInto(t, only(t, objs, "NetworkPolicy", ""), &np)
	for key, v := range np.Spec.PodSelector.MatchLabels {
		if rd.Spec.Template.Metadata.Labels[key] != v {
			t.Errorf("the NetworkPolicy's pod selector %s=%s is not a Redis pod label", key, v)
		}
	}
	if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 1 {
		t.Fatalf("NetworkPolicy ingress %+v, want one rule from jwtgate's pods", np.Spec.Ingress)
	}
	for key, v := range np.Spec.Ingress[0].From[0].PodSelector.MatchLabels {
		if dep.Spec.Template.Metadata.Labels[key] != v {
			t.Errorf("the NetworkPolicy lets in %s=%s, not a jwtgate pod label", key, v)
		}
	}
}
