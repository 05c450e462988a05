package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/stirling-iot/stirling/pipeline"
)

// FileOpts configures a File publisher.
type FileOpts struct {
	// Path is the JSON-lines file; rotated files are Path.1 (newest) to
	// Path.Keep.
	Path string
	// MaxBytes rotates the file before a batch would grow it past this
	// (default 10 MiB).
	MaxBytes int64
	// Keep is how many rotated files are kept (default 3).
	Keep int
	// Name is the publisher's name (default "file").
	Name string
	// Logger receives rotation problems, scoped component=publish; nil
	// discards them.
	Logger *slog.Logger
}

// DefaultFileOpts returns the defaults NewFile uses for every zero field
// (Path has none).
func DefaultFileOpts() FileOpts {
	return FileOpts{MaxBytes: 10 << 20, Keep: 3, Name: "file", Logger: slog.New(slog.DiscardHandler)}
}

// File appends readings as JSON lines (the Stdout format) to a file,
// rotated by size. Each batch is fsynced before its readings are accepted,
// so this publisher costs one fsync per batch: use it for exports and
// debugging, not as a second spool on an SD card.
type File struct {
	opts FileOpts
	log  *slog.Logger

	mu   sync.Mutex
	f    *os.File
	size int64
	buf  []byte
}

// NewFile opens (or creates) opts.Path for appending.
func NewFile(o *FileOpts) (*File, error) {
	var opts FileOpts
	if o != nil {
		opts = *o
	}
	d := DefaultFileOpts()
	if opts.Path == "" {
		return nil, errors.New("publish: file: empty path")
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = d.MaxBytes
	}
	if opts.Keep <= 0 {
		opts.Keep = d.Keep
	}
	if opts.Name == "" {
		opts.Name = d.Name
	}
	if opts.Logger == nil {
		opts.Logger = d.Logger
	}
	log := opts.Logger
	p := &File{opts: opts, log: log.With("component", "publish", "publisher", opts.Name)}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o750); err != nil {
		return nil, fmt.Errorf("publish: %s: %w", opts.Name, err)
	}
	if err := p.open(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *File) open() error {
	f, err := os.OpenFile(p.opts.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("publish: %s: %w", p.opts.Name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("publish: %s: %w", p.opts.Name, err)
	}
	p.f, p.size = f, st.Size()
	return nil
}

// rotate shifts Path.i to Path.i+1, drops the oldest, and starts a new
// Path.
func (p *File) rotate() error {
	if err := p.f.Close(); err != nil {
		p.log.Warn("close before rotation", "err", err)
	}
	p.f = nil
	name := func(i int) string { return p.opts.Path + "." + strconv.Itoa(i) }
	for i := p.opts.Keep - 1; i >= 1; i-- {
		if err := os.Rename(name(i), name(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("publish: %s: rotate: %w", p.opts.Name, err)
		}
	}
	if err := os.Rename(p.opts.Path, name(1)); err != nil {
		return fmt.Errorf("publish: %s: rotate: %w", p.opts.Name, err)
	}
	return p.open()
}

var _ Publisher = (*File)(nil)

// Name returns the publisher's name.
func (p *File) Name() string { return p.opts.Name }

// Send appends b's readings and fsyncs the file. On a failed write the
// partial lines are cut off again and the readings stay Retry.
func (p *File) Send(ctx context.Context, b *pipeline.Batch, res []Result) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = appendJSONLines(p.buf[:0], b, res)
	if len(p.buf) == 0 {
		acceptRest(res)
		return nil
	}
	if p.f == nil {
		if err := p.open(); err != nil {
			return err
		}
	}
	if p.size > 0 && p.size+int64(len(p.buf)) > p.opts.MaxBytes {
		if err := p.rotate(); err != nil {
			return err
		}
	}
	n, err := p.f.Write(p.buf)
	if err == nil {
		err = p.f.Sync()
	}
	if err != nil {
		if n > 0 {
			if terr := p.f.Truncate(p.size); terr != nil {
				p.log.Warn("cut partial write", "err", terr)
			}
		}
		return fmt.Errorf("publish: %s: write: %w", p.opts.Name, err)
	}
	p.size += int64(n)
	acceptRest(res)
	return nil
}

// Close closes the file.
func (p *File) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f == nil {
		return nil
	}
	err := p.f.Close()
	p.f = nil
	return err
}
