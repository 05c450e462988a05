package thermal

// DecodeHelp is the description of `stirling thermal decode` that its
// --help prints: the output, the input format Decode reads, and the PNGs.
const DecodeHelp = `Decode MLX90640 dumps with the Melexis calibration algorithm and print one
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
