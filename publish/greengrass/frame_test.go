package greengrass

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// connectFrame is the CONNECT frame for token TOKEN from reference
// greengrass.md §3.9 (verified against the eventstream module there).
const connectFrame = "0000006d000000487c87a537" +
	"0d3a6d6573736167652d747970650400000004" +
	"0e3a6d6573736167652d666c6167730400000000" +
	"0a3a73747265616d2d69640400000000" +
	"083a76657273696f6e070005302e312e30" +
	"7b2261757468546f6b656e223a22544f4b454e227d" +
	"c12a25ea"

func TestConnectFrameBytes(t *testing.T) {
	var b bytes.Buffer
	hs := eventstream.Headers{{Name: hdrVersion, Value: eventstream.StringValue(protocolVersion)}}
	if err := encodeFrame(eventstream.NewEncoder(), &b, msgConnect, 0, 0, hs, []byte(`{"authToken":"TOKEN"}`)); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b.Bytes()); got != connectFrame {
		t.Fatalf("CONNECT frame\n got %s\nwant %s", got, connectFrame)
	}
	f, _, err := readFrame(&b, MaxFrame, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.typ != msgConnect || f.flags != 0 || f.stream != 0 || headerString(f.headers, hdrVersion) != "0.1.0" || string(f.payload) != `{"authToken":"TOKEN"}` {
		t.Fatalf("decoded %+v", f)
	}
}

// frameBytes encodes a valid RPC frame.
func frameBytes(t testing.TB, typ, flags, stream int32, payload string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := encodeFrame(eventstream.NewEncoder(), &b, typ, flags, stream, nil, []byte(payload)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withPrelude rewrites a frame's lengths and fixes the prelude CRC (but not
// the message CRC).
func withPrelude(b []byte, total, hlen uint32) []byte {
	b = bytes.Clone(b)
	binary.BigEndian.PutUint32(b[0:], total)
	binary.BigEndian.PutUint32(b[4:], hlen)
	binary.BigEndian.PutUint32(b[8:], crc32.ChecksumIEEE(b[:8]))
	return b
}

// malformed are frames a client must refuse with ErrFrame (or a short read).
func malformed(t testing.TB) map[string][]byte {
	good := frameBytes(t, msgApplication, flagTerminateStream, 1, "{}")
	badPreludeCRC := bytes.Clone(good)
	badPreludeCRC[9] ^= 0xff
	badMsgCRC := bytes.Clone(good)
	badMsgCRC[len(badMsgCRC)-1] ^= 0xff
	var noRPC bytes.Buffer
	_ = eventstream.NewEncoder().Encode(&noRPC, eventstream.Message{Payload: []byte("{}")})
	badHeaderType := bytes.Clone(good)
	badHeaderType[12+1+len(hdrMessageType)] = 42 // value type of the first header
	binary.BigEndian.PutUint32(badHeaderType[len(badHeaderType)-4:], crc32.ChecksumIEEE(badHeaderType[:len(badHeaderType)-4]))
	return map[string][]byte{
		"garbage":            []byte("HTTP/1.1 400 Bad Request\r\n\r\nnot an event stream at all"),
		"bad prelude crc":    badPreludeCRC,
		"bad message crc":    badMsgCRC,
		"huge length":        withPrelude(good, 1<<31, 0),
		"too short":          withPrelude(good, 8, 0),
		"headers past end":   withPrelude(good, uint32(len(good)), uint32(len(good))),
		"truncated":          good[:len(good)-3],
		"no rpc headers":     noRPC.Bytes(),
		"unknown value type": badHeaderType,
	}
}

func TestReadFrameMalformed(t *testing.T) {
	for name, b := range malformed(t) {
		t.Run(name, func(t *testing.T) {
			_, _, err := readFrame(bytes.NewReader(b), 1<<20, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrFrame) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("error %v is neither ErrFrame nor a short read", err)
			}
		})
	}
}

func TestReadFrameLimit(t *testing.T) {
	b := frameBytes(t, msgApplication, 0, 1, strings.Repeat("x", 1000))
	if _, _, err := readFrame(bytes.NewReader(b), 1000, nil); !errors.Is(err, ErrFrame) {
		t.Fatalf("frame over the limit: err %v, want ErrFrame", err)
	}
	if _, _, err := readFrame(bytes.NewReader(b), len(b), nil); err != nil {
		t.Fatalf("frame at the limit: %v", err)
	}
}

// FuzzDecode feeds arbitrary bytes to the frame reader: it must return a
// frame or an error, never panic or allocate beyond the limit, and a frame
// it accepts must re-encode to a frame it accepts again.
func FuzzDecode(f *testing.F) {
	raw, _ := hex.DecodeString(connectFrame)
	f.Add(raw)
	f.Add(frameBytes(f, msgApplication, flagTerminateStream, 7, `{"value":{"a":1}}`))
	f.Add(frameBytes(f, msgPing, 0, 0, ""))
	for _, b := range malformed(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 64 << 10
		r := bytes.NewReader(b)
		for range 4 { // a stream of frames
			fr, buf, err := readFrame(r, limit, nil)
			if cap(buf) > limit {
				t.Fatalf("buffer of %d bytes over the %d limit", cap(buf), limit)
			}
			if err != nil {
				return
			}
			var out bytes.Buffer
			var extra eventstream.Headers
			for _, h := range fr.headers {
				switch strings.ToLower(h.Name) {
				case hdrMessageType, hdrFlags, hdrStreamID:
				default:
					extra = append(extra, h)
				}
			}
			if err := encodeFrame(eventstream.NewEncoder(), &out, fr.typ, fr.flags, fr.stream, extra, fr.payload); err != nil {
				return // e.g. a header the encoder refuses
			}
			again, _, err := readFrame(&out, MaxFrame, nil)
			if err != nil {
				t.Fatalf("re-encoded frame rejected: %v", err)
			}
			if again.typ != fr.typ || again.stream != fr.stream || !bytes.Equal(again.payload, fr.payload) {
				t.Fatalf("round trip changed the frame: %+v vs %+v", again, fr)
			}
		}
	})
}
