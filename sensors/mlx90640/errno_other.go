//go:build !linux

package mlx90640

// isNACKErrno is false off Linux: there is no i2c-dev there, and the
// simulated bus reports NACKs with its own sentinel.
func isNACKErrno(error) bool { return false }
