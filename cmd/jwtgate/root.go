package main

import (
	"github.com/spf13/cobra"
)

// NewRootCommand returns the jwtgate command tree. Each call builds a fresh tree, so
// tests drive it with SetArgs, SetOut and SetErr without sharing state.
//
// Commands return their errors; cobra prints each once, as "Error: ...", to the
// command's error stream, and main turns it into exit status 1. Usage is not
// printed on errors, so a failure stays one readable line.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "jwtgate",
		Short: "Stateless session tokens for chat front ends",
		Long: `jwtgate trades an API key for a short-lived JWT at POST /sessions and
forwards /chat calls made with that token to the chat backend with the real key.
Any replica holding the same keys verifies any token: there is no session store.

Configuration comes from flags, then JWTGATE_* environment variables, then the
YAML file named by --config or JWTGATE_CONFIG, then defaults.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.SetVersionTemplate("jwtgate {{.Version}}\n")
	root.AddCommand(
		newServeCommand(),
		newTokenCommand(),
		newKeysCommand(),
		newVersionCommand(),
	)
	return root
}
