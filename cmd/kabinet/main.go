// Command kabinet serves a personal-data-respecting portal: the citizen's
// personal cabinet, the operator's console and a JSON API, from one binary.
// Run `kabinet help` for the commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if err != errUsage {
			fmt.Fprintln(os.Stderr, "kabinet:", err)
		}
		os.Exit(exitCode(err))
	}
}

// run is the whole program; tests call it with their own arguments,
// environment and streams, and cancel ctx to stop it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return dispatch(ctx, &env{args: args, getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr})
}
