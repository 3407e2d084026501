package config

import "github.com/spf13/pflag"

// flagBinding ties a command-line flag to the configuration key it sets.
type flagBinding struct {
	flag, key, usage string
}

// flagBindings lists the flags [RegisterFlags] defines, apart from --config.
func flagBindings() []flagBinding {
	return []flagBinding{
		{flag: "addr", key: "server.addr", usage: "listen address, host:port (server.addr)"},
		{flag: "log-level", key: "log.level", usage: "log level: debug, info, warn or error (log.level)"},
		{flag: "upstream-url", key: "chat.upstream_url", usage: "chat backend base URL; empty: built-in echo backend (chat.upstream_url)"},
	}
}

// configFlag is the flag that names the YAML configuration file.
const configFlag = "config"

// configEnv is the environment variable that names the YAML configuration file
// when --config is not given.
const configEnv = "JWTGATE_CONFIG"

// RegisterFlags adds jwtgate's configuration flags to fs: --config (the YAML file;
// default: $JWTGATE_CONFIG, else none), --addr (server.addr), --log-level (log.level)
// and --upstream-url (chat.upstream_url). [Load] applies only the flags the user set,
// so the defaults shown in help never override the environment or the file.
func RegisterFlags(fs *pflag.FlagSet) {
	d := Default()
	fs.String(configFlag, "", "path to the YAML configuration file (default $"+configEnv+")")
	defaults := map[string]string{
		"server.addr":       d.Server.Addr,
		"log.level":         d.Log.Level,
		"chat.upstream_url": "",
	}
	for _, b := range flagBindings() {
		fs.String(b.flag, defaults[b.key], b.usage)
	}
}
