package bench

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stirling-iot/stirling/internal/testsrv/mosquittotest"
)

// seqSub is a QoS 1 subscriber that keeps, instead of the messages, one bit
// per reading sequence number: at a day of backlog mosquittotest.Sub would
// hold hundreds of megabytes of payloads.
type seqSub struct {
	client paho.Client
	sample bool // messages use the sample layout (seq..seq_last, no per-reading seq)

	mu       sync.Mutex
	seen     []uint64 // bitset, bit s set when reading Seq s arrived
	want     uint64   // readings 1..want are expected
	readings uint64   // readings received, duplicates included
	distinct uint64   // distinct sequence numbers received
	msgs     uint64
	bad      uint64 // messages without a parsable seq, or a seq out of range
	notify   chan struct{}
}

var (
	seqKey     = []byte(`"seq":`)
	seqLastKey = []byte(`"seq_last":`)
)

// subscribeSeqs connects a subscriber for topic on broker and waits for its
// SUBACK. want is the highest reading Seq expected.
func subscribeSeqs(tb testing.TB, broker *mosquittotest.Broker, topic string, want uint64, sample bool) *seqSub {
	tb.Helper()
	s := &seqSub{sample: sample, want: want, seen: make([]uint64, want/64+1), notify: make(chan struct{})}
	o := paho.NewClientOptions().
		AddBroker(broker.URL()).
		SetClientID(fmt.Sprintf("bench-sub-%d", time.Now().UnixNano())).
		SetTLSConfig(broker.Certs.ClientTLS(tb)).
		SetCleanSession(true).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(true)
	s.client = paho.NewClient(o)
	if tok := s.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		tb.Fatalf("subscriber connect: %v", tok.Error())
	}
	if tok := s.client.Subscribe(topic, 1, s.handle); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		tb.Fatalf("subscribe %s: %v", topic, tok.Error())
	}
	tb.Cleanup(func() { s.client.Disconnect(100) })
	return s
}

func (s *seqSub) handle(_ paho.Client, m paho.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs++
	if !s.add(m.Payload()) {
		s.bad++
	}
	if s.distinct == s.want {
		select {
		case <-s.notify:
		default:
			close(s.notify)
		}
	}
}

// add records the reading sequence numbers of one payload. In the batch
// layout the first "seq" is the envelope's and every further one a
// reading's; in the sample layout the message carries readings seq..seq_last.
func (s *seqSub) add(p []byte) bool {
	first, rest, ok := nextUint(p, seqKey)
	if !ok {
		return false
	}
	if s.sample {
		last, _, ok := nextUint(p, seqLastKey)
		if !ok || last < first {
			return false
		}
		for q := first; q <= last; q++ {
			if !s.mark(q) {
				return false
			}
		}
		return true
	}
	n := 0
	for {
		var q uint64
		q, rest, ok = nextUint(rest, seqKey)
		if !ok {
			break
		}
		if !s.mark(q) {
			return false
		}
		n++
	}
	return n > 0
}

func (s *seqSub) mark(q uint64) bool {
	if q == 0 || q > s.want {
		return false
	}
	s.readings++
	w, bit := q/64, uint64(1)<<(q%64)
	if s.seen[w]&bit == 0 {
		s.seen[w] |= bit
		s.distinct++
	}
	return true
}

// nextUint finds key in p and parses the unsigned integer after it; it
// returns the rest of p after the number.
func nextUint(p, key []byte) (uint64, []byte, bool) {
	i := bytes.Index(p, key)
	if i < 0 {
		return 0, nil, false
	}
	p = p[i+len(key):]
	j := 0
	for j < len(p) && p[j] >= '0' && p[j] <= '9' {
		j++
	}
	v, err := strconv.ParseUint(string(p[:j]), 10, 64)
	if err != nil {
		return 0, nil, false
	}
	return v, p[j:], true
}

// subCounts is a snapshot of a seqSub.
type subCounts struct {
	Msgs, Readings, Distinct, Bad uint64
	Missing                       []uint64 // the first few missing Seqs
}

func (s *seqSub) counts() subCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := subCounts{Msgs: s.msgs, Readings: s.readings, Distinct: s.distinct, Bad: s.bad}
	for q := uint64(1); q <= s.want && len(c.Missing) < 10; q++ {
		if s.seen[q/64]&(1<<(q%64)) == 0 {
			c.Missing = append(c.Missing, q)
		}
	}
	return c
}

// wait waits until every Seq 1..want arrived or timeout passed, and reports
// whether it did.
func (s *seqSub) wait(timeout time.Duration) bool {
	select {
	case <-s.notify:
		return true
	case <-time.After(timeout):
		return false
	}
}

func TestSeqSubParses(t *testing.T) {
	tests := []struct {
		name     string
		sample   bool
		payload  string
		want     uint64
		ok       bool
		distinct uint64
	}{
		{"batch", false, `{"device":"d","batch":7,"seq":3,"seq_last":4,"readings":[{"seq":3,"metric":"rpm"},{"seq":4,"metric":"flame_c"}]}`, 5, true, 2},
		{"sample", true, `{"device":"d","batch":7,"seq":2,"seq_last":5,"ts":1,"rpm":1}`, 5, true, 4},
		{"batch without readings", false, `{"device":"d","batch":7,"seq":3,"seq_last":4,"readings":[]}`, 5, false, 0},
		{"seq out of range", false, `{"seq":1,"seq_last":9,"readings":[{"seq":9}]}`, 5, false, 0},
		{"sample reversed", true, `{"seq":4,"seq_last":3}`, 5, false, 0},
		{"no seq", false, `{"device":"d"}`, 5, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &seqSub{sample: tt.sample, want: tt.want, seen: make([]uint64, 1)}
			if got := s.add([]byte(tt.payload)); got != tt.ok {
				t.Fatalf("add = %v, want %v", got, tt.ok)
			}
			if tt.ok && s.distinct != tt.distinct {
				t.Errorf("distinct = %d, want %d", s.distinct, tt.distinct)
			}
		})
	}
}
