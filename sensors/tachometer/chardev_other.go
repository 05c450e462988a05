//go:build !linux

package tachometer

import "context"

// OpenChardev needs the Linux GPIO character device.
func OpenChardev(ctx context.Context, opts *ChardevOpts) (*Chardev, error) {
	return nil, ErrUnsupported
}
