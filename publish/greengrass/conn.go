package greengrass

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// conn is one CONNECTed IPC connection. Stream ids start at 1 on every
// connection and grow by exactly one per new stream; the id is allocated and
// the stream's first frame written under one lock (reference §3.5).
type conn struct {
	nc       net.Conn
	maxFrame int
	c        *Client // stats, logger

	wmu    sync.Mutex // guards enc, lastID and writes to nc
	enc    *eventstream.Encoder
	lastID int32

	mu      sync.Mutex
	streams map[int32]*stream
	err     error         // why the connection ended; set once
	done    chan struct{} // closed when the connection ended
}

// stream is one operation stream. Replies go to reply (buffered, first
// reply only); a subscription's later events go to onEvent, called from the
// read loop.
type stream struct {
	op      string
	reply   chan frame
	gotOne  bool
	onEvent func(frame) // nil for request/response operations
	onEnd   func(error) // subscription ended by the server
}

// dialConn dials path and performs the CONNECT handshake.
func dialConn(ctx context.Context, c *Client) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", c.opts.SocketPath)
	if err != nil {
		return nil, fmt.Errorf("greengrass: dial %s: %w", c.opts.SocketPath, err)
	}
	cn := &conn{
		nc:       nc,
		maxFrame: c.opts.MaxFrame,
		c:        c,
		enc:      eventstream.NewEncoder(),
		streams:  make(map[int32]*stream),
		done:     make(chan struct{}),
	}
	if err := cn.handshake(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	go cn.readLoop()
	return cn, nil
}

func (cn *conn) handshake(ctx context.Context) error {
	deadline := time.Now().Add(cn.c.opts.CallTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = cn.nc.SetDeadline(deadline)
	defer cn.nc.SetDeadline(time.Time{})

	payload, err := json.Marshal(struct {
		AuthToken string `json:"authToken"`
	}{cn.c.opts.AuthToken})
	if err != nil {
		return fmt.Errorf("greengrass: connect: %w", err)
	}
	hs := eventstream.Headers{{Name: hdrVersion, Value: eventstream.StringValue(protocolVersion)}}
	if err := encodeFrame(cn.enc, cn.nc, msgConnect, 0, 0, hs, payload); err != nil {
		return fmt.Errorf("greengrass: connect: write: %w", err)
	}
	f, _, err := readFrame(cn.nc, cn.maxFrame, nil)
	if err != nil {
		if errors.Is(err, ErrFrame) {
			cn.c.countError("malformed_frame")
		}
		return fmt.Errorf("greengrass: connect: read ack: %w", err)
	}
	if f.typ != msgConnectAck || f.stream != 0 {
		return fmt.Errorf("%w: connect: got message type %d on stream %d, want CONNECT_ACK", ErrProtocol, f.typ, f.stream)
	}
	if f.flags&flagConnectionAccepted == 0 {
		return ErrConnectRejected
	}
	return nil
}

// close ends the connection with err (the first error wins) and fails every
// open stream.
func (cn *conn) close(err error) {
	cn.c.detach(cn)
	cn.mu.Lock()
	if cn.err != nil {
		cn.mu.Unlock()
		return
	}
	cn.err = err
	streams := cn.streams
	cn.streams = nil
	close(cn.done)
	cn.mu.Unlock()
	cn.nc.Close()
	for _, s := range streams {
		if s.onEnd != nil {
			s.onEnd(err)
		}
	}
}

// closeErr is why the connection ended, wrapped in ErrDisconnected.
func (cn *conn) closeErr() error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.err == nil {
		return nil
	}
	if errors.Is(cn.err, ErrClosed) {
		return cn.err
	}
	return fmt.Errorf("%w: %w", ErrDisconnected, cn.err)
}

func (cn *conn) readLoop() {
	r := bufio.NewReaderSize(cn.nc, 64<<10)
	var buf []byte
	for {
		var f frame
		var err error
		f, buf, err = readFrame(r, cn.maxFrame, buf)
		if err != nil {
			if errors.Is(err, ErrFrame) {
				cn.c.countError("malformed_frame")
				cn.c.log.Warn("malformed frame from nucleus; reconnecting", "err", err)
			}
			cn.close(err)
			return
		}
		if len(buf) > 1<<20 {
			buf = nil // don't pin a large frame's buffer
		}
		if f.stream == 0 {
			if err := cn.connectionMessage(f); err != nil {
				cn.close(err)
				return
			}
			continue
		}
		cn.route(f)
	}
}

// connectionMessage handles a stream-0 message after the handshake.
func (cn *conn) connectionMessage(f frame) error {
	switch f.typ {
	case msgPing:
		cn.wmu.Lock()
		err := encodeFrame(cn.enc, cn.nc, msgPingResponse, 0, 0, nil, f.payload)
		cn.wmu.Unlock()
		return err
	case msgPingResponse:
		return nil
	case msgProtocolErr, msgInternalErr:
		cn.c.countError("protocol")
		return fmt.Errorf("%w: server sent message type %d: %s", ErrProtocol, f.typ, truncate(string(f.payload), 256))
	default:
		cn.c.countError("protocol")
		return fmt.Errorf("%w: unexpected message type %d on stream 0", ErrProtocol, f.typ)
	}
}

// route delivers f to its stream. Frames for unknown streams (a call that
// timed out, a cancelled subscription) are dropped.
func (cn *conn) route(f frame) {
	cn.mu.Lock()
	s := cn.streams[f.stream]
	terminate := f.flags&flagTerminateStream != 0
	if s != nil && (terminate || s.onEvent == nil) {
		delete(cn.streams, f.stream)
	}
	first := s != nil && !s.gotOne
	if s != nil {
		s.gotOne = true
	}
	cn.mu.Unlock()
	switch {
	case s == nil:
		return
	case first:
		s.reply <- f // buffered, capacity 1, first reply only
		if terminate && s.onEvent != nil && f.typ == msgApplication && s.onEnd != nil {
			s.onEnd(nil)
		}
	case f.typ == msgApplication && len(f.payload) > 0 && s.onEvent != nil:
		s.onEvent(f)
		if terminate && s.onEnd != nil {
			s.onEnd(nil)
		}
	case terminate && s.onEnd != nil:
		var err error
		if f.typ == msgError {
			err = parseError(s.op, f)
		}
		s.onEnd(err)
	}
}

// start allocates the next stream id, registers s and writes the stream's
// activating frame.
func (cn *conn) start(op string, s *stream, body []byte) (int32, error) {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	if cn.lastID == math.MaxInt32 {
		return 0, fmt.Errorf("%w: stream ids exhausted", ErrProtocol)
	}
	id := cn.lastID + 1
	cn.mu.Lock()
	if cn.streams == nil {
		cn.mu.Unlock()
		return 0, cn.closeErr()
	}
	cn.streams[id] = s
	cn.mu.Unlock()
	hs := eventstream.Headers{
		{Name: hdrOperation, Value: eventstream.StringValue(modelPrefix + op)},
		{Name: hdrContentType, Value: eventstream.StringValue(contentJSON)},
		{Name: hdrModelType, Value: eventstream.StringValue(modelPrefix + op + "Request")},
	}
	if err := encodeFrame(cn.enc, cn.nc, msgApplication, 0, id, hs, body); err != nil {
		cn.forget(id)
		err = fmt.Errorf("%w: %s: write: %w", ErrDisconnected, op, err)
		go cn.close(err)
		return 0, err
	}
	cn.lastID = id
	return id, nil
}

func (cn *conn) forget(id int32) {
	cn.mu.Lock()
	if cn.streams != nil {
		delete(cn.streams, id)
	}
	cn.mu.Unlock()
}

// terminate cancels a stream from the client side: an empty application
// message with TERMINATE_STREAM.
func (cn *conn) terminate(id int32) {
	cn.forget(id)
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	_ = encodeFrame(cn.enc, cn.nc, msgApplication, flagTerminateStream, id, nil, nil)
}

// call activates a stream for op and waits for its first reply. For a
// streaming operation, onEvent receives the later events.
func (cn *conn) call(ctx context.Context, op string, req any, onEvent func(frame), onEnd func(error)) (frame, int32, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return frame{}, 0, fmt.Errorf("greengrass: %s: encode request: %w", op, err)
	}
	s := &stream{op: op, reply: make(chan frame, 1), onEvent: onEvent, onEnd: onEnd}
	id, err := cn.start(op, s, body)
	if err != nil {
		return frame{}, 0, err
	}
	select {
	case f := <-s.reply:
		switch f.typ {
		case msgApplication:
			if mt := headerString(f.headers, hdrModelType); mt != "" && mt != modelPrefix+op+"Response" {
				return f, id, fmt.Errorf("%w: %s: reply shape %q", ErrProtocol, op, mt)
			}
			return f, id, nil
		case msgError:
			return f, id, parseError(op, f)
		default:
			return f, id, fmt.Errorf("%w: %s: reply message type %d", ErrProtocol, op, f.typ)
		}
	case <-cn.done:
		return frame{}, id, cn.closeErr()
	case <-ctx.Done():
		cn.forget(id)
		return frame{}, id, fmt.Errorf("greengrass: %s: %w", op, ctx.Err())
	}
}
