package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/jwtgate/jwtgate/pkg/config"
)

const (
	kubeDir    = "kubernetes"
	composeDir = "compose"
	rootDir    = ".."
)

// object is the part of every Kubernetes object the checks read.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	file string
	raw  []byte
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type securityContext struct {
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	Capabilities             struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
	SeccompProfile struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  probe `yaml:"livenessProbe"`
	ReadinessProbe probe `yaml:"readinessProbe"`
	Lifecycle      struct {
		PreStop struct {
			Sleep struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext securityContext `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type deployment struct {
	Spec struct {
		Replicas int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec struct {
				TerminationGracePeriodSeconds int             `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               securityContext `yaml:"securityContext"`
				Containers                    []container     `yaml:"containers"`
				Volumes                       []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
					Secret *struct {
						SecretName string `yaml:"secretName"`
						Items      []struct {
							Key  string `yaml:"key"`
							Path string `yaml:"path"`
						} `yaml:"items"`
					} `yaml:"secret"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// manifests parses every YAML document under deploy/kubernetes except the
// kustomization, failing on any that does not parse or lacks its identity.
func manifests(t *testing.T) []*object {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(kubeDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", kubeDir, err)
	}
	var out []*object
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var node yaml.Node
			err := dec.Decode(&node)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			raw, err := yaml.Marshal(&node)
			if err != nil {
				t.Fatal(err)
			}
			o := &object{file: filepath.Base(f), raw: raw}
			if err := node.Decode(o); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
				t.Errorf("%s: a document without apiVersion, kind or metadata.name", f)
			}
			out = append(out, o)
		}
	}
	return out
}

// decodeInto decodes o into v, a typed view of the fields a check reads.
func decodeInto(t *testing.T, o *object, v any) {
	t.Helper()
	if err := yaml.Unmarshal(o.raw, v); err != nil {
		t.Fatalf("%s: %s: %v", o.file, o.Kind, err)
	}
}

// only returns the one object of kind, failing when there is not exactly one.
func only(t *testing.T, objs []*object, kind, file string) *object {
	t.Helper()
	var found []*object
	for _, o := range objs {
		if o.Kind == kind && (file == "" || o.file == file) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s objects, want 1", len(found), kind)
	}
	return found[0]
}

type kustomization struct {
	Namespace string   `yaml:"namespace"`
	Resources []string `yaml:"resources"`
	Images    []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	} `yaml:"images"`
}

// loadConfig loads a jwtgate configuration file with jwtgate's own loader
// (unknown keys and invalid values are errors), with secretFile as
// JWTGATE_JWT_SECRET_FILE, the way the deployments pass the secret, and env
// ("KEY=value") set too.
func loadConfig(t *testing.T, yamlText, secret string, env ...string) (config.Config, error) {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "jwtgate.yaml")
	secretFile := filepath.Join(dir, "jwt-secret")
	if err := os.WriteFile(cfgFile, []byte(yamlText), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "JWTGATE_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Setenv("JWTGATE_JWT_SECRET_FILE", secretFile)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	if err := fs.Parse([]string{"--config", cfgFile}); err != nil {
		t.Fatal(err)
	}
	return config.Load(fs)
}

// goodSecret stands in for the output of `jwtgate keys generate`.
const goodSecret = "k1uS2S7bVpZr4d0G9m3JxQ8nWcA6yTfE5hL2oPqRsUvXw0zB1iD3gH7jK9lM4nN6"

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return n
}

func isTrue(b *bool) bool { return b != nil && *b }

func TestKubernetesManifests(t *testing.T) {
	objs := manifests(t)

	var k kustomization
	b, err := os.ReadFile(filepath.Join(kubeDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	for _, r := range k.Resources {
		if _, err := os.Stat(filepath.Join(kubeDir, r)); err != nil {
			t.Errorf("kustomization resource %s: %v", r, err)
		}
	}
	if slices.Contains(k.Resources, "secret.example.yaml") {
		t.Error("kustomization deploys the example Secret and its placeholder")
	}
	for _, want := range []string{"deployment.yaml", "service.yaml", "hpa.yaml", "configmap.yaml"} {
		if !slices.Contains(k.Resources, want) {
			t.Errorf("kustomization lacks %s", want)
		}
	}
	if ns := only(t, objs, "Namespace", ""); ns.Metadata.Name != k.Namespace {
		t.Errorf("Namespace %q, kustomization namespace %q", ns.Metadata.Name, k.Namespace)
	}
	seen := map[string]bool{}
	for _, o := range objs {
		id := o.Kind + "/" + o.Metadata.Name
		if seen[id] {
			t.Errorf("%s defined twice", id)
		}
		seen[id] = true
	}

	depObj := only(t, objs, "Deployment", "")
	var dep deployment
	decodeInto(t, depObj, &dep)
	spec := dep.Spec.Template.Spec
	if dep.Spec.Replicas != 3 {
		t.Errorf("replicas = %d, want 3", dep.Spec.Replicas)
	}
	for k, v := range dep.Spec.Selector.MatchLabels {
		if dep.Spec.Template.Metadata.Labels[k] != v {
			t.Errorf("the selector's %s=%s is not a pod label", k, v)
		}
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	if len(k.Images) != 1 || k.Images[0].Name != c.Image {
		t.Errorf("kustomization images %+v do not set the container image %q", k.Images, c.Image)
	}
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for name, pr := range map[string]probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if pr.HTTPGet == nil || pr.HTTPGet.Path != name || ports[pr.HTTPGet.Port] == 0 {
			t.Errorf("probe for %s = %+v, want an HTTP GET of %s on a named container port", name, pr.HTTPGet, name)
		}
	}
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" || c.Resources.Limits[r] == "" {
			t.Errorf("resources: %s request %q, limit %q; want both", r, c.Resources.Requests[r], c.Resources.Limits[r])
		}
	}
	sc := c.SecurityContext
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if !isTrue(sc.RunAsNonRoot) && !isTrue(spec.SecurityContext.RunAsNonRoot) {
		t.Error("runAsNonRoot is not true")
	}
	if u := spec.SecurityContext.RunAsUser; u == nil || *u == 0 {
		t.Error("runAsUser is not a non-root uid")
	} else if *u != imageUID(t) {
		t.Errorf("runAsUser %d differs from the image's USER %d", *u, imageUID(t))
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("capabilities drop %q, want [ALL]", sc.Capabilities.Drop)
	}
	if spec.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("seccomp profile %q, want RuntimeDefault", spec.SecurityContext.SeccompProfile.Type)
	}

	// The secret file: JWTGATE_JWT_SECRET_FILE names a file of the Secret volume.
	mounts := map[string]string{} // volume -> mount path
	for _, m := range c.VolumeMounts {
		if !m.ReadOnly {
			t.Errorf("volume %s is mounted writable", m.Name)
		}
		mounts[m.Name] = m.MountPath
	}
	var secretFile string
	for _, e := range c.Env {
		if e.Name == "JWTGATE_JWT_SECRET_FILE" {
			secretFile = e.Value
		}
	}
	secretObj := only(t, objs, "Secret", "secret.example.yaml")
	var secret struct {
		StringData map[string]string `yaml:"stringData"`
	}
	decodeInto(t, secretObj, &secret)
	var configMapName, configDir string
	var secretMounted bool
	for _, v := range spec.Volumes {
		switch {
		case v.Secret != nil:
			if v.Secret.SecretName != secretObj.Metadata.Name {
				t.Errorf("secret volume %s uses Secret %q, the example is %q", v.Name, v.Secret.SecretName, secretObj.Metadata.Name)
			}
			for _, it := range v.Secret.Items {
				if _, ok := secret.StringData[it.Key]; !ok {
					t.Errorf("secret item %q is not a key of the example Secret", it.Key)
				}
				if mounts[v.Name] != "" && path(mounts[v.Name], it.Path) == secretFile {
					secretMounted = true
				}
			}
		case v.ConfigMap != nil:
			configMapName, configDir = v.ConfigMap.Name, mounts[v.Name]
		}
	}
	if secretFile == "" || !secretMounted {
		t.Errorf("JWTGATE_JWT_SECRET_FILE = %q is not a file of the mounted Secret", secretFile)
	}
	if secretObj.Metadata.Namespace != "" && secretObj.Metadata.Namespace != k.Namespace {
		t.Errorf("the example Secret is in namespace %q, the rest in %q", secretObj.Metadata.Namespace, k.Namespace)
	}
	// The placeholder must never run: it is refused as too short.
	if _, err := loadConfig(t, "", secret.StringData["jwt-secret"]); err == nil || !strings.Contains(err.Error(), "jwt.secret") {
		t.Errorf("the example Secret's placeholder loads (%v); it must be refused", err)
	}

	// The configuration file: --config names the ConfigMap's file, which loads.
	cmObj := only(t, objs, "ConfigMap", "")
	if cmObj.Metadata.Name != configMapName {
		t.Errorf("config volume uses ConfigMap %q, the manifest defines %q", configMapName, cmObj.Metadata.Name)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	decodeInto(t, cmObj, &cm)
	i := slices.Index(c.Args, "--config")
	if i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("args %q do not pass --config", c.Args)
	}
	dir, name := filepath.Split(c.Args[i+1])
	if filepath.Clean(dir) != configDir || cm.Data[name] == "" {
		t.Fatalf("--config %s is not a file of the ConfigMap mounted at %s", c.Args[i+1], configDir)
	}
	cfg, err := loadConfig(t, cm.Data[name], goodSecret)
	if err != nil {
		t.Fatalf("the ConfigMap's %s does not load: %v", name, err)
	}
	if got := port(t, cfg.Server.Addr); got != ports["http"] {
		t.Errorf("server.addr port %d, container port http %d", got, ports["http"])
	}
	if host, _, _ := net.SplitHostPort(cfg.Server.Addr); host != "0.0.0.0" && host != "" {
		t.Errorf("server.addr %q listens on one interface only", cfg.Server.Addr)
	}
	if cfg.Metrics.Addr != "" {
		mp := port(t, cfg.Metrics.Addr)
		if mp != ports["metrics"] || dep.Spec.Template.Metadata.Annotations["prometheus.io/port"] != strconv.Itoa(mp) {
			t.Errorf("metrics.addr port %d, container port metrics %d, scrape annotation %q", mp, ports["metrics"], dep.Spec.Template.Metadata.Annotations["prometheus.io/port"])
		}
	}
	grace := time.Duration(spec.TerminationGracePeriodSeconds) * time.Second
	if pause := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second; cfg.Server.ShutdownTimeout+pause >= grace {
		t.Errorf("shutdown_timeout %s + preStop %s does not fit in terminationGracePeriodSeconds %s", cfg.Server.ShutdownTimeout, pause, grace)
	}

	// The Service sends to the pods' http port.
	var svc struct {
		Spec struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	decodeInto(t, only(t, objs, "Service", ""), &svc)
	if len(svc.Spec.Selector) == 0 {
		t.Error("the Service selects nothing")
	}
	for k, v := range svc.Spec.Selector {
		if dep.Spec.Template.Metadata.Labels[k] != v {
			t.Errorf("the Service's selector %s=%s matches no pod label", k, v)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != "http" {
		t.Errorf("Service ports %+v, want one to the http port", svc.Spec.Ports)
	}

	// The autoscaler scales this Deployment on CPU.
	hpaObj := only(t, objs, "HorizontalPodAutoscaler", "")
	var hpa struct {
		Spec struct {
			ScaleTargetRef struct {
				Kind string `yaml:"kind"`
				Name string `yaml:"name"`
			} `yaml:"scaleTargetRef"`
			MinReplicas int `yaml:"minReplicas"`
			MaxReplicas int `yaml:"maxReplicas"`
			Metrics     []struct {
				Type     string `yaml:"type"`
				Resource struct {
					Name   string `yaml:"name"`
					Target struct {
						Type               string `yaml:"type"`
						AverageUtilization int    `yaml:"averageUtilization"`
					} `yaml:"target"`
				} `yaml:"resource"`
			} `yaml:"metrics"`
		} `yaml:"spec"`
	}
	decodeInto(t, hpaObj, &hpa)
	if hpaObj.APIVersion != "autoscaling/v2" {
		t.Errorf("HPA apiVersion %q, want autoscaling/v2", hpaObj.APIVersion)
	}
	if r := hpa.Spec.ScaleTargetRef; r.Kind != "Deployment" || r.Name != depObj.Metadata.Name {
		t.Errorf("HPA targets %s/%s, want Deployment/%s", r.Kind, r.Name, depObj.Metadata.Name)
	}
	if hpa.Spec.MinReplicas < 2 || hpa.Spec.MaxReplicas < hpa.Spec.MinReplicas {
		t.Errorf("HPA replicas %d to %d", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource.Name != "cpu" || hpa.Spec.Metrics[0].Resource.Target.AverageUtilization == 0 {
		t.Errorf("HPA metrics %+v, want CPU utilization", hpa.Spec.Metrics)
	}
}

func path(dir, file string) string { return strings.TrimSuffix(dir, "/") + "/" + file }

// instruction is one Dockerfile instruction with its arguments, continuation
// lines joined.
type instruction struct {
	cmd  string // upper case
	args string
}

func dockerfile(t *testing.T) []instruction {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rootDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if more, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(more + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// finalStage returns the instructions of the Dockerfile's last stage, FROM first.
func finalStage(t *testing.T) []instruction {
	t.Helper()
	ins := dockerfile(t)
	last := -1
	for i, in := range ins {
		if in.cmd == "FROM" {
			last = i
		}
	}
	if last < 0 {
		t.Fatal("the Dockerfile has no FROM")
	}
	return ins[last:]
}

// imageUID returns the numeric uid of the final stage's USER.
func imageUID(t *testing.T) int64 {
	t.Helper()
	for _, in := range finalStage(t) {
		if in.cmd == "USER" {
			uid, _, _ := strings.Cut(in.args, ":")
			n, err := strconv.ParseInt(uid, 10, 64)
			if err != nil {
				t.Fatalf("USER %q is not numeric (Kubernetes' runAsNonRoot cannot check a name)", in.args)
			}
			return n
		}
	}
	t.Fatal("the final stage has no USER")
	return 0
}

func TestDockerfile(t *testing.T) {
	ins := dockerfile(t)
	if ins[0].cmd != "FROM" || !strings.Contains(ins[0].args, "golang:1.26") {
		t.Errorf("first stage %q, want a golang:1.26 builder", ins[0].args)
	}
	var build string
	for _, in := range ins {
		if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
			build = in.args
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=", "./cmd/jwtgate"} {
		if !strings.Contains(build, want) {
			t.Errorf("the go build step %q lacks %s", build, want)
		}
	}

	final := finalStage(t)
	base := strings.Fields(final[0].args)[0]
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("final base %q, want distroless/static or scratch (no shell)", base)
	}
	if uid := imageUID(t); uid == 0 {
		t.Error("the final stage runs as root")
	}
	want := map[string]string{
		"ENTRYPOINT": `["/jwtgate", "serve"]`,
		"EXPOSE":     "8080",
		"ENV":        "JWTGATE_SERVER_ADDR=0.0.0.0:8080",
	}
	var copies []string
	for _, in := range final[1:] {
		switch in.cmd {
		case "RUN", "SHELL", "ADD":
			t.Errorf("the final stage has %s %s: it must hold the binary only, with no shell", in.cmd, in.args)
		case "COPY":
			copies = append(copies, in.args)
		case "ENTRYPOINT", "EXPOSE", "ENV":
			if in.args != want[in.cmd] {
				t.Errorf("%s %s, want %s", in.cmd, in.args, want[in.cmd])
			}
			delete(want, in.cmd)
		}
	}
	for cmd, args := range want {
		t.Errorf("the final stage lacks %s %s", cmd, args)
	}
	if len(copies) != 1 || !regexp.MustCompile(`^--from=\S+ \S+ /jwtgate$`).MatchString(copies[0]) {
		t.Errorf("final stage copies %q, want the binary alone to /jwtgate", copies)
	}

	// .dockerignore lets through exactly what the build copies.
	b, err := os.ReadFile(filepath.Join(rootDir, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	if len(patterns) == 0 || patterns[0] != "*" {
		t.Errorf(".dockerignore starts with %q, want * (an allowlist)", patterns)
	}
	for _, in := range ins {
		if in.cmd != "COPY" || strings.HasPrefix(in.args, "--from=") {
			continue
		}
		srcs := strings.Fields(in.args)
		for _, src := range srcs[:len(srcs)-1] {
			if !slices.Contains(patterns, "!"+src) {
				t.Errorf("COPY %s, but .dockerignore does not let %s through", in.args, src)
			}
			if _, err := os.Stat(filepath.Join(rootDir, src)); err != nil {
				t.Errorf("COPY source %s: %v", src, err)
			}
		}
	}
}

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Secrets     []string          `yaml:"secrets"`
		Volumes     []string          `yaml:"volumes"`
		ReadOnly    bool              `yaml:"read_only"`
		CapDrop     []string          `yaml:"cap_drop"`
		Ports       []string          `yaml:"ports"`
		Networks    yaml.Node         `yaml:"networks"`
	} `yaml:"services"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

func TestCompose(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(rootDir, "docker-compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(b, &cf); err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	var replicas, lbs []string
	for name, s := range cf.Services {
		switch {
		case s.Image == "jwtgate:local":
			replicas = append(replicas, name)
		case strings.HasPrefix(s.Image, "nginx:"):
			lbs = append(lbs, name)
		default:
			t.Errorf("service %s runs an unexpected image %q", name, s.Image)
		}
	}
	slices.Sort(replicas)
	if len(replicas) != 2 || len(lbs) != 1 {
		t.Fatalf("services: jwtgate %q, load balancers %q; want two and one", replicas, lbs)
	}

	// Both replicas: the same secret file and configuration, locked down.
	var cfgText string
	for _, name := range replicas {
		s := cf.Services[name]
		if len(s.Secrets) != 1 || s.Environment["JWTGATE_JWT_SECRET_FILE"] != "/run/secrets/"+s.Secrets[0] {
			t.Errorf("%s: secrets %q, JWTGATE_JWT_SECRET_FILE %q; want the compose secret's file", name, s.Secrets, s.Environment["JWTGATE_JWT_SECRET_FILE"])
		} else if f := cf.Secrets[s.Secrets[0]].File; f != "./deploy/compose/jwt-secret" {
			t.Errorf("%s: secret file %q, want ./deploy/compose/jwt-secret", name, f)
		}
		if !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) {
			t.Errorf("%s: read_only %v, cap_drop %q; want true and [ALL]", name, s.ReadOnly, s.CapDrop)
		}
		i := slices.Index(s.Command, "--config")
		if i < 0 || i+1 >= len(s.Command) {
			t.Fatalf("%s: command %q does not pass --config", name, s.Command)
		}
		var host string
		for _, v := range s.Volumes {
			src, dst, _ := strings.Cut(strings.TrimSuffix(v, ":ro"), ":")
			if dst == s.Command[i+1] {
				host = src
			}
			if !strings.HasSuffix(v, ":ro") {
				t.Errorf("%s: volume %s is writable", name, v)
			}
		}
		text, err := os.ReadFile(filepath.Join(rootDir, host))
		if host == "" || err != nil {
			t.Fatalf("%s: --config %s is not a mounted file (%v)", name, s.Command[i+1], err)
		}
		if cfgText != "" && cfgText != string(text) {
			t.Errorf("the replicas have different configurations")
		}
		cfgText = string(text)
	}
	if _, err := os.ReadFile(filepath.Join(composeDir, ".gitignore")); err != nil {
		t.Errorf("the generated secret is not ignored by git: %v", err)
	}
	cfg, err := loadConfig(t, cfgText, goodSecret)
	if err != nil {
		t.Fatalf("deploy/compose/jwtgate.yaml does not load: %v", err)
	}

	// nginx: its configuration is mounted, balances over both replicas on the
	// port they listen on, and its fixed address is jwtgate's trusted proxy.
	lb := cf.Services[lbs[0]]
	var nginxConf string
	for _, v := range lb.Volumes {
		src, dst, _ := strings.Cut(strings.TrimSuffix(v, ":ro"), ":")
		if dst == "/etc/nginx/nginx.conf" {
			nginxConf = src
		}
	}
	conf, err := os.ReadFile(filepath.Join(rootDir, nginxConf))
	if nginxConf == "" || err != nil {
		t.Fatalf("nginx.conf is not mounted from the repository (%v)", err)
	}
	var upstreams []string
	for _, m := range regexp.MustCompile(`(?m)^\s*server\s+([\w.-]+:\d+)`).FindAllStringSubmatch(string(conf), -1) {
		upstreams = append(upstreams, m[1])
	}
	var wantUpstreams []string
	for _, r := range replicas {
		wantUpstreams = append(wantUpstreams, r+":"+strconv.Itoa(port(t, cfg.Server.Addr)))
	}
	if !slices.Equal(upstreams, wantUpstreams) {
		t.Errorf("nginx upstream servers %q, want %q", upstreams, wantUpstreams)
	}
	if !strings.Contains(string(conf), "proxy_buffering off") {
		t.Error("nginx buffers responses: server-sent events would not stream")
	}
	var nets map[string]struct {
		IPv4Address string `yaml:"ipv4_address"`
	}
	if err := lb.Networks.Decode(&nets); err != nil {
		t.Fatalf("nginx networks: %v", err)
	}
	var lbAddr string
	for _, n := range nets {
		lbAddr = n.IPv4Address
	}
	if !slices.Contains(cfg.Server.TrustedProxies, lbAddr) || len(cfg.Server.TrustedProxies) != 1 {
		t.Errorf("trusted proxies %q, want nginx's address %q alone", cfg.Server.TrustedProxies, lbAddr)
	}
	for _, p := range lb.Ports {
		if !strings.HasPrefix(p, "127.0.0.1:") {
			t.Errorf("nginx publishes %s beyond loopback", p)
		}
	}
}
