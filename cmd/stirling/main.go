// Command stirling is the Stirling-engine edge agent and its tools: the agent
// itself (run), calibration, thermal dump decoding, recipe rendering and
// config checking, in one static binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
	stop()
	if err != nil {
		if !errors.Is(err, errUsageShown) && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "stirling:", err)
		}
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(exitCode(err))
	}
}

// env is what a subcommand may touch of the outside world, so tests can run
// every subcommand in process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// errUsageShown means the usage text was already printed.
var errUsageShown = errors.New("usage shown")

// exitError carries a specific process exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, errUsageShown) {
		return 2
	}
	return 1
}

func commands() []command {
	return []command{
		{"run", "run the agent: sensors -> pipeline -> spool -> publishers", cmdRun},
		{"calibrate", "place the three camera regions on a live thermal image (run once per setup)", cmdCalibrate},
		{"thermal", "MLX90640 tools: decode EEPROM + frame dumps to temperatures", cmdThermal},
		{"config", "check a config file and print the effective config", cmdConfig},
		{"spool", "list the quarantine and requeue entries from it", cmdSpool},
		{"recipe", "render and validate the Greengrass V2 component recipe", cmdRecipe},
		{"version", "print version, commit and build date", cmdVersion},
	}
}

func run(ctx context.Context, args []string, e *env) error {
	cmds := commands()
	usage := func(w io.Writer) {
		fmt.Fprint(w, `stirling: the Stirling-engine edge agent.

Usage:
  stirling <command> [flags] [args]

Commands:
`)
		for _, c := range cmds {
			fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
		}
		fmt.Fprint(w, `
Run "stirling <command> --help" for a command's flags.
Quick start on a laptop (simulated engine, no hardware, no AWS):
  stirling run --config configs/sim.yaml
`)
	}
	if len(args) == 0 {
		usage(e.stderr)
		return errUsageShown
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(e.stdout)
		return nil
	}
	for _, c := range cmds {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "stirling: unknown command %q\n\n", args[0])
	usage(e.stderr)
	return errUsageShown
}

// newFlagSet returns a flag set whose --help prints the synopsis, the
// description and the flags to e.stdout.
func newFlagSet(e *env, name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: %s\n\n%s\n", synopsis, description)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintln(w, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args; --help prints usage to stdout and returns flag.ErrHelp.
func parseFlags(e *env, fs *flag.FlagSet, args []string) error {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return flag.ErrHelp
		}
	}
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2, err: errUsageShown}
	}
	return nil
}
