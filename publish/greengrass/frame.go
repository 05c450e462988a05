package greengrass

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// Event-stream framing (reference greengrass.md §3.2): a 12-byte prelude
// (total length, headers length, prelude CRC), headers, payload and a CRC of
// everything before it. The eventstream module encodes and decodes frames
// but trusts the prelude; readFrame checks it first so a corrupt or hostile
// frame is an error, never a huge allocation or a panic.

const (
	preludeLen = 12
	minFrame   = preludeLen + 4

	// MaxFrame is the largest frame the nucleus's event-stream library
	// accepts (AWS_EVENT_STREAM_MAX_MESSAGE_SIZE, 24 MiB).
	MaxFrame = 24 << 20
)

// RPC message types (:message-type).
const (
	msgApplication  int32 = 0
	msgError        int32 = 1
	msgPing         int32 = 2
	msgPingResponse int32 = 3
	msgConnect      int32 = 4
	msgConnectAck   int32 = 5
	msgProtocolErr  int32 = 6
	msgInternalErr  int32 = 7
)

// RPC message flags (:message-flags).
const (
	flagConnectionAccepted int32 = 1
	flagTerminateStream    int32 = 2
)

// Header names.
const (
	hdrMessageType = ":message-type"
	hdrFlags       = ":message-flags"
	hdrStreamID    = ":stream-id"
	hdrVersion     = ":version"
	hdrContentType = ":content-type"
	hdrOperation   = "operation"
	hdrModelType   = "service-model-type"

	protocolVersion = "0.1.0"
	contentJSON     = "application/json"
	modelPrefix     = "aws.greengrass#"
)

// ErrFrame is returned for a frame that is malformed: bad lengths, bad
// CRCs, undecodable headers or missing RPC headers.
var ErrFrame = errors.New("greengrass: malformed frame")

// frame is a decoded RPC message with its protocol headers pulled out.
type frame struct {
	typ     int32
	flags   int32
	stream  int32
	headers eventstream.Headers
	payload []byte
}

// header returns the value of the header named name, ignoring case as the
// server does (C-ES aws_event_stream_rpc_extract_message_metadata).
func header(hs eventstream.Headers, name string) eventstream.Value {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return nil
}

func headerString(hs eventstream.Headers, name string) string {
	if v, ok := header(hs, name).(eventstream.StringValue); ok {
		return string(v)
	}
	return ""
}

// readFrame reads one frame of at most max bytes from r. The buffer buf is
// reused for the frame bytes when large enough; the returned payload does not
// alias it.
func readFrame(r io.Reader, max int, buf []byte) (frame, []byte, error) {
	var pre [preludeLen]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return frame{}, buf, err
	}
	total := binary.BigEndian.Uint32(pre[0:4])
	hlen := binary.BigEndian.Uint32(pre[4:8])
	if crc := crc32.ChecksumIEEE(pre[:8]); crc != binary.BigEndian.Uint32(pre[8:12]) {
		return frame{}, buf, fmt.Errorf("%w: prelude crc 0x%08x, computed 0x%08x", ErrFrame, binary.BigEndian.Uint32(pre[8:12]), crc)
	}
	if total < minFrame || uint64(total) > uint64(max) {
		return frame{}, buf, fmt.Errorf("%w: length %d outside [%d, %d]", ErrFrame, total, minFrame, max)
	}
	if uint64(hlen) > uint64(total)-minFrame {
		return frame{}, buf, fmt.Errorf("%w: headers length %d exceeds frame length %d", ErrFrame, hlen, total)
	}
	if cap(buf) < int(total) {
		buf = make([]byte, total)
	}
	buf = buf[:total]
	copy(buf, pre[:])
	if _, err := io.ReadFull(r, buf[preludeLen:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return frame{}, buf, fmt.Errorf("%w: %w", ErrFrame, err)
	}
	f, err := decodeFrame(buf)
	return f, buf, err
}

// decodeFrame decodes one complete, length-checked frame.
func decodeFrame(b []byte) (frame, error) {
	m, err := eventstream.NewDecoder().Decode(bytes.NewReader(b), nil)
	if err != nil {
		return frame{}, fmt.Errorf("%w: %w", ErrFrame, err)
	}
	f := frame{headers: m.Headers, payload: m.Payload}
	var ok [3]bool
	f.typ, ok[0] = int32Header(m.Headers, hdrMessageType)
	f.flags, ok[1] = int32Header(m.Headers, hdrFlags)
	f.stream, ok[2] = int32Header(m.Headers, hdrStreamID)
	if !ok[0] || !ok[1] || !ok[2] {
		return frame{}, fmt.Errorf("%w: missing :message-type, :message-flags or :stream-id", ErrFrame)
	}
	if f.stream < 0 {
		return frame{}, fmt.Errorf("%w: negative stream id %d", ErrFrame, f.stream)
	}
	return f, nil
}

func int32Header(hs eventstream.Headers, name string) (int32, bool) {
	v, ok := header(hs, name).(eventstream.Int32Value)
	return int32(v), ok
}

// encodeFrame appends the RPC headers to extra and encodes the message.
func encodeFrame(enc *eventstream.Encoder, w io.Writer, typ, flags, stream int32, extra eventstream.Headers, payload []byte) error {
	hs := make(eventstream.Headers, 0, len(extra)+3)
	hs = append(hs,
		eventstream.Header{Name: hdrMessageType, Value: eventstream.Int32Value(typ)},
		eventstream.Header{Name: hdrFlags, Value: eventstream.Int32Value(flags)},
		eventstream.Header{Name: hdrStreamID, Value: eventstream.Int32Value(stream)},
	)
	hs = append(hs, extra...)
	return enc.Encode(w, eventstream.Message{Headers: hs, Payload: payload})
}
