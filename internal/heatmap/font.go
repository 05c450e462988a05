package heatmap

import (
	"image"
	"image/color"
	"unicode"
)

// A built-in 3x5 pixel font, enough for numbers, degree labels and ROI
// names (letters are drawn upper case). Each glyph is 15 bits, three per
// row, top row first, the most significant bit the left pixel.
const (
	glyphW = 3
	glyphH = 5
)

func glyph(r rune) uint16 {
	switch unicode.ToUpper(r) {
	case '0':
		return 0b111_101_101_101_111
	case '1':
		return 0b010_110_010_010_111
	case '2':
		return 0b111_001_111_100_111
	case '3':
		return 0b111_001_111_001_111
	case '4':
		return 0b101_101_111_001_001
	case '5':
		return 0b111_100_111_001_111
	case '6':
		return 0b111_100_111_101_111
	case '7':
		return 0b111_001_001_001_001
	case '8':
		return 0b111_101_111_101_111
	case '9':
		return 0b111_101_111_001_111
	case '-':
		return 0b000_000_111_000_000
	case '.':
		return 0b000_000_000_000_010
	case '_':
		return 0b000_000_000_000_111
	case ':':
		return 0b000_010_000_010_000
	case '=':
		return 0b000_111_000_111_000
	case '+':
		return 0b000_010_111_010_000
	case '/':
		return 0b001_001_010_100_100
	case '°':
		return 0b010_101_010_000_000
	case 'A':
		return 0b010_101_111_101_101
	case 'B':
		return 0b110_101_110_101_110
	case 'C':
		return 0b011_100_100_100_011
	case 'D':
		return 0b110_101_101_101_110
	case 'E':
		return 0b111_100_110_100_111
	case 'F':
		return 0b111_100_110_100_100
	case 'G':
		return 0b011_100_101_101_011
	case 'H':
		return 0b101_101_111_101_101
	case 'I':
		return 0b111_010_010_010_111
	case 'J':
		return 0b001_001_001_101_010
	case 'K':
		return 0b101_101_110_101_101
	case 'L':
		return 0b100_100_100_100_111
	case 'M':
		return 0b101_111_111_101_101
	case 'N':
		return 0b110_101_101_101_101
	case 'O':
		return 0b010_101_101_101_010
	case 'P':
		return 0b110_101_110_100_100
	case 'Q':
		return 0b010_101_101_110_011
	case 'R':
		return 0b110_101_110_101_101
	case 'S':
		return 0b011_100_010_001_110
	case 'T':
		return 0b111_010_010_010_010
	case 'U':
		return 0b101_101_101_101_111
	case 'V':
		return 0b101_101_101_101_010
	case 'W':
		return 0b101_101_111_111_101
	case 'X':
		return 0b101_101_010_101_101
	case 'Y':
		return 0b101_101_010_010_010
	case 'Z':
		return 0b111_001_010_100_111
	}
	return 0 // space and anything unknown
}

// textWidth is the width of s in font pixels (one pixel between glyphs).
func textWidth(s string) int {
	n := len([]rune(s))
	if n == 0 {
		return 0
	}
	return n*(glyphW+1) - 1
}

// drawText draws s with its top-left corner at (x, y), each font pixel a
// scale x scale square.
func drawText(img *image.RGBA, x, y int, s string, scale int, c color.RGBA) {
	for _, r := range s {
		g := glyph(r)
		for row := range glyphH {
			for col := range glyphW {
				if g&(1<<(14-(row*glyphW+col))) != 0 {
					px, py := x+col*scale, y+row*scale
					fill(img, image.Rect(px, py, px+scale, py+scale), c)
				}
			}
		}
		x += (glyphW + 1) * scale
	}
}
