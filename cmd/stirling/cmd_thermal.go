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

const decodeDescription = `Decode MLX90640 dumps with the Melexis calibration algorithm and print one
JSON line per input file:

  {"case": "<file name without .json>", "vdd": V, "ta": degC, "to": [768 values]}

"to" holds the object temperature of every pixel of the frame's subpage in
deg C (pixel = row*32 + column) and null for the 384 pixels of the other
subpage, which the frame does not measure.

Input: a JSON object with
  "eeprom"      832 words, the EEPROM 0x2400..0x273F (MLX90640_DumpEE)
  "frame"       834 words: pixel RAM 0x0400..0x06FF, aux RAM 0x0700..0x073F,
                the control register 0x800D and the subpage number (0 or 1)
  "emissivity"  the scene's emissivity, 0 < e <= 1 (or give --emissivity)
  "tr"          optional reflected temperature in deg C; default Ta - 8
Words are JSON integers 0..65535. The MLX90640 test vectors have this format;
other keys are ignored. "-" reads one object from standard input (its case
name is its "id" key, or "stdin").

With several inputs and --png, one PNG is written per input, named by
inserting "_<case>" before the extension of FILE (heat.png ->
heat_<case>.png), always in FILE's directory: in the name, <case> keeps only
letters, digits, ".", "_" and "-" (no ".."), at most 64 bytes. Pixels of
the other subpage are drawn grey.

Bad input (a wrong word count, a non-numeric or out-of-range value, an
EEPROM that is not a calibration) prints one error line naming the file and
the field; the other files are still decoded and the exit status is 1.

Example:
  stirling thermal decode --png heat.png dump.json`

func cmdThermalDecode(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "thermal decode", "stirling thermal decode [--png FILE] [--correct-bad-pixels] [--emissivity E] CASE.json... (- = stdin)", decodeDescription)
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
