package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/stirling-iot/stirling/internal/thermal"
)

const thermalUsage = `MLX90640 tools.

Subcommands:
  decode   decode EEPROM + frame dumps (JSON) to Vdd, Ta and per-pixel temperatures

Run "stirling thermal decode --help" for its flags and the input format.
`

func cmdThermal(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintf(e.stderr, "Usage: stirling thermal <subcommand> [flags] [args]\n\n%s", thermalUsage)
		return errUsageShown
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(e.stdout, "Usage: stirling thermal <subcommand> [flags] [args]\n\n%s", thermalUsage)
		return flag.ErrHelp
	case "decode":
		return cmdThermalDecode(ctx, e, args[1:])
	}
	fmt.Fprintf(e.stderr, "stirling thermal: unknown subcommand %q\n\n%s", args[0], thermalUsage)
	return errUsageShown
}

func cmdThermalDecode(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "thermal decode", "stirling thermal decode [--png FILE] [--correct-bad-pixels] [--emissivity E] CASE.json... (- = stdin)", thermal.DecodeHelp)
	pngPath := fs.String("png", "", "write a heat-map `FILE` with a colour scale (one per input: FILE with _<case> inserted)")
	correct := fs.Bool("correct-bad-pixels", false, "interpolate the EEPROM's broken and outlier pixels from their neighbours, as Melexis does")
	emis := fs.Float64("emissivity", 0, "emissivity to use when an input has none (0 < e <= 1)")
	files, err := parseInterspersed(e, fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fmt.Fprintln(e.stderr, "stirling thermal decode: no input files (give CASE.json... or - for stdin)")
		return &exitError{code: 2, err: errUsageShown}
	}
	if *emis != 0 && !(*emis > 0 && *emis <= 1) {
		fmt.Fprintf(e.stderr, "stirling thermal decode: --emissivity %g: want 0 < e <= 1\n", *emis)
		return &exitError{code: 2, err: errUsageShown}
	}
	o := &thermal.DecodeOpts{Emissivity: *emis, CorrectBadPixels: *correct, PNG: *pngPath, Stdin: e.stdin, Stdout: e.stdout, Stderr: e.stderr}
	if err := thermal.Decode(files, o); err != nil {
		return &exitError{code: 1, err: errUsageShown} // each failure is printed
	}
	return nil
}

// parseInterspersed parses flags that may come after positional arguments.
func parseInterspersed(e *env, fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(e, fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
