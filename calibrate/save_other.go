//go:build !unix

package calibrate

import (
	"errors"
	"io/fs"
	"log/slog"
)

// saveAt needs the *at system calls of Unix to save without following
// links; elsewhere Save refuses.
func saveAt(_, _ string, _ []byte, _ fs.FileMode, _, _ int, _ *slog.Logger) (SaveResult, error) {
	return SaveResult{}, errors.New("saving the ROI file safely needs a Unix system")
}
