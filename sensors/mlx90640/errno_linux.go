package mlx90640

import (
	"errors"
	"syscall"
)

// isNACKErrno reports whether err is the errno Linux's i2c-dev returns for
// an unacknowledged transfer (EREMOTEIO).
func isNACKErrno(err error) bool { return errors.Is(err, syscall.EREMOTEIO) }
