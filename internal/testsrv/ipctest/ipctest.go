// Package ipctest runs a local Greengrass IPC server for tests: a Unix
// socket speaking event-stream RPC frame by frame as the nucleus does
// (reference greengrass.md §3). It checks what clients send (CONNECT
// headers and SVCUID, the three RPC headers on every frame, stream ids that
// grow by exactly one, operation and service-model-type names, request
// JSON), records every deviation as a violation, and answers with the
// nucleus's response and error frames. Faults can be injected per publish:
// modeled errors, raw malformed bytes, or a dropped connection.
package ipctest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// ComponentName is the name the server reports for the calling component.
const ComponentName = "com.stirling.Agent"

// Publish is one accepted PublishToIoTCore or PublishToTopic request.
type Publish struct {
	Op      string // "PublishToIoTCore" or "PublishToTopic"
	Topic   string
	QoS     string // "0" or "1" (PublishToIoTCore only)
	Payload []byte // decoded from base64
	Conn    int    // connection number, from 1
	Stream  int32
}

// Reply tells the server how to answer one publish. The zero Reply accepts.
type Reply struct {
	Error     string // modeled IPC error code, e.g. "ServiceError", "UnauthorizedError"
	Message   string
	Unmodeled bool   // answer text/plain InternalServerError
	Raw       []byte // write these bytes instead of a reply
	Drop      bool   // close the connection without replying
}

// Server is a fake nucleus IPC endpoint.
type Server struct {
	Path  string // socket path
	Token string // the SVCUID clients must present

	ln net.Listener
	wg sync.WaitGroup

	mu         sync.Mutex
	onPublish  func(Publish) Reply
	config     map[string]any
	publishes  []Publish
	states     []string
	violations []string
	conns      map[*sconn]struct{}
	nconns     int
	connects   int
	rejects    int
	pongs      int
	closed     bool
}

type sconn struct {
	s   *Server
	n   int
	nc  net.Conn
	wmu sync.Mutex
	enc *eventstream.Encoder

	mu   sync.Mutex
	subs map[int32][]string // config subscriptions: stream -> keyPath
}

// New starts a server with a short socket path (Unix socket paths are
// limited to 108 bytes) and stops it when the test ends.
func New(t testing.TB, token string) *Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "ipc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{Path: filepath.Join(dir, "ipc.socket"), Token: token, conns: map[*sconn]struct{}{}, config: map[string]any{}}
	s.ln, err = net.Listen("unix", s.Path)
	if err != nil {
		t.Fatal(err)
	}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and drops every connection.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	ln := s.ln
	s.mu.Unlock()
	ln.Close()
	s.DropAll()
	s.wg.Wait()
}

// DropAll closes every client connection, as a nucleus restart would.
func (s *Server) DropAll() {
	s.mu.Lock()
	cs := make([]*sconn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.nc.Close()
	}
}

// OnPublish sets the function that decides each publish's reply.
func (s *Server) OnPublish(f func(Publish) Reply) {
	s.mu.Lock()
	s.onPublish = f
	s.mu.Unlock()
}

// Publishes returns the accepted publishes so far.
func (s *Server) Publishes() []Publish {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.publishes)
}

// States returns the states reported with UpdateState.
func (s *Server) States() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.states)
}

// Violations returns every protocol deviation seen from clients.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// Connects is the number of accepted CONNECTs; Rejects of refused ones.
func (s *Server) Connects() (accepted, rejected int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connects, s.rejects
}

// Subscribers is the number of live configuration subscriptions.
func (s *Server) Subscribers() int {
	s.mu.Lock()
	cs := make([]*sconn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	n := 0
	for _, c := range cs {
		c.mu.Lock()
		n += len(c.subs)
		c.mu.Unlock()
	}
	return n
}

func (s *Server) violate(format string, args ...any) {
	s.mu.Lock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

// SetConfig sets the component configuration at keyPath (nil or empty:
// replace all of it) and sends one ConfigurationUpdateEvents per changed
// leaf to the subscribers whose key path it concerns, as the nucleus does.
func (s *Server) SetConfig(keyPath []string, value any) {
	s.mu.Lock()
	if len(keyPath) == 0 {
		m, _ := value.(map[string]any)
		s.config = deepCopy(m).(map[string]any)
	} else {
		node := s.config
		for _, k := range keyPath[:len(keyPath)-1] {
			next, ok := node[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				node[k] = next
			}
			node = next
		}
		node[keyPath[len(keyPath)-1]] = deepCopy(value)
	}
	var leaves [][]string
	collectLeaves(slices.Clone(keyPath), value, &leaves)
	cs := make([]*sconn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.mu.Lock()
		type target struct {
			id   int32
			leaf []string
		}
		var ts []target
		for id, path := range c.subs {
			for _, leaf := range leaves {
				if hasPrefix(leaf, path) || hasPrefix(path, leaf) {
					ts = append(ts, target{id, leaf})
				}
			}
		}
		c.mu.Unlock()
		for _, t := range ts {
			ev, _ := json.Marshal(map[string]any{"configurationUpdateEvent": map[string]any{"componentName": ComponentName, "keyPath": t.leaf}})
			c.write(0, 0, t.id, jsonHeaders("aws.greengrass#ConfigurationUpdateEvents"), ev)
		}
	}
}

func collectLeaves(prefix []string, v any, out *[][]string) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		*out = append(*out, prefix)
		return
	}
	for k, sub := range m {
		collectLeaves(append(slices.Clone(prefix), k), sub, out)
	}
}

func hasPrefix(p, prefix []string) bool {
	return len(p) >= len(prefix) && slices.Equal(p[:len(prefix)], prefix)
}

func deepCopy(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	if out == nil {
		if _, ok := v.(map[string]any); ok {
			return map[string]any{}
		}
	}
	return out
}

func (s *Server) accept() {
	defer s.wg.Done()
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.nconns++
		c := &sconn{s: s, n: s.nconns, nc: nc, enc: eventstream.NewEncoder(), subs: map[int32][]string{}}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.serve()
			nc.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// header finds a header ignoring case, as the nucleus does.
func header(hs eventstream.Headers, name string) eventstream.Value {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return nil
}

func hstring(hs eventstream.Headers, name string) (string, bool) {
	v, ok := header(hs, name).(eventstream.StringValue)
	return string(v), ok
}

func hint(hs eventstream.Headers, name string) (int32, bool) {
	v, ok := header(hs, name).(eventstream.Int32Value)
	return int32(v), ok
}

func jsonHeaders(model string) eventstream.Headers {
	return eventstream.Headers{
		{Name: ":content-type", Value: eventstream.StringValue("application/json")},
		{Name: "service-model-type", Value: eventstream.StringValue(model)},
	}
}

func (c *sconn) write(typ, flags, stream int32, extra eventstream.Headers, payload []byte) {
	hs := eventstream.Headers{
		{Name: ":message-type", Value: eventstream.Int32Value(typ)},
		{Name: ":message-flags", Value: eventstream.Int32Value(flags)},
		{Name: ":stream-id", Value: eventstream.Int32Value(stream)},
	}
	hs = append(hs, extra...)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.enc.Encode(c.nc, eventstream.Message{Headers: hs, Payload: payload})
}

func (c *sconn) writeRaw(b []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, _ = c.nc.Write(b)
}

// Message types and flags (reference §3.3).
const (
	typeApp, typeErr, typePing, typePingResp, typeConnect, typeConnectAck, typeProtoErr = 0, 1, 2, 3, 4, 5, 6
	flagAccepted, flagTerminate                                                         = 1, 2
)

func (c *sconn) serve() {
	s := c.s
	r := bufio.NewReader(c.nc)
	dec := eventstream.NewDecoder()
	m, err := dec.Decode(r, nil)
	if err != nil {
		s.violate("conn %d: first frame undecodable: %v", c.n, err)
		return
	}
	if !c.checkConnect(m) {
		s.mu.Lock()
		s.rejects++
		s.mu.Unlock()
		c.write(typeConnectAck, 0, 0, nil, nil)
		return
	}
	s.mu.Lock()
	s.connects++
	s.mu.Unlock()
	c.write(typeConnectAck, flagAccepted, 0, nil, nil)

	var lastID int32
	for {
		m, err := dec.Decode(r, nil)
		if err != nil {
			return // client closed, or sent garbage: the nucleus drops it
		}
		typ, ok1 := hint(m.Headers, ":message-type")
		flags, ok2 := hint(m.Headers, ":message-flags")
		id, ok3 := hint(m.Headers, ":stream-id")
		if !ok1 || !ok2 || !ok3 {
			s.violate("conn %d: frame without :message-type, :message-flags or :stream-id", c.n)
			c.write(typeProtoErr, 0, 0, nil, []byte(`{"message":"missing required headers"}`))
			return
		}
		if id == 0 {
			switch typ {
			case typePing:
				c.write(typePingResp, 0, 0, nil, m.Payload)
			case typePingResp:
				s.mu.Lock()
				s.pongs++
				s.mu.Unlock()
			case typeConnect:
				s.violate("conn %d: second CONNECT", c.n)
				c.write(typeProtoErr, 0, 0, nil, []byte(`{"message":"connect already sent"}`))
				return
			default:
				s.violate("conn %d: message type %d on stream 0", c.n, typ)
			}
			continue
		}
		c.mu.Lock()
		_, isSub := c.subs[id]
		if isSub && flags&flagTerminate != 0 {
			delete(c.subs, id)
		}
		c.mu.Unlock()
		if isSub {
			if flags&flagTerminate == 0 || len(m.Payload) != 0 {
				s.violate("conn %d: stream %d: unexpected message on a subscription", c.n, id)
			}
			continue
		}
		if id <= lastID {
			// A late frame on a finished stream (e.g. a terminate after the
			// server ended it) is harmless; anything else is not.
			if typ != typeApp || flags&flagTerminate == 0 {
				s.violate("conn %d: frame on finished stream %d", c.n, id)
			}
			continue
		}
		if id != lastID+1 {
			s.violate("conn %d: stream id %d not sequentially increasing (last %d)", c.n, id, lastID)
			c.write(typeProtoErr, 0, 0, nil, []byte(`{"message":"stream_id is invalid because it's not sequentially increasing"}`))
			return
		}
		lastID = id
		if !c.operation(id, typ, flags, m) {
			return
		}
	}
}

func (c *sconn) checkConnect(m eventstream.Message) bool {
	s := c.s
	ok := true
	bad := func(format string, args ...any) {
		s.violate("conn %d: CONNECT: "+format, append([]any{c.n}, args...)...)
		ok = false
	}
	if v, _ := hint(m.Headers, ":message-type"); v != typeConnect {
		bad(":message-type %d, want 4", v)
	}
	if v, has := hint(m.Headers, ":message-flags"); !has || v != 0 {
		bad(":message-flags missing or not 0")
	}
	if v, has := hint(m.Headers, ":stream-id"); !has || v != 0 {
		bad(":stream-id missing or not 0")
	}
	if v, _ := hstring(m.Headers, ":version"); v != "0.1.0" {
		bad(":version %q, want 0.1.0", v)
	}
	var body struct {
		AuthToken *string `json:"authToken"`
	}
	if err := json.Unmarshal(m.Payload, &body); err != nil || body.AuthToken == nil {
		bad("payload %q has no authToken", m.Payload)
		return false
	}
	if *body.AuthToken != s.Token {
		// Not a client protocol violation: an unknown token is rejected.
		return false
	}
	return ok
}

// operation handles the activating frame of stream id; false ends the
// connection.
func (c *sconn) operation(id, typ, flags int32, m eventstream.Message) bool {
	s := c.s
	op, _ := hstring(m.Headers, "operation")
	ct, _ := hstring(m.Headers, ":content-type")
	model, _ := hstring(m.Headers, "service-model-type")
	if typ != typeApp || flags != 0 {
		s.violate("conn %d: stream %d: activation with type %d flags %d", c.n, id, typ, flags)
	}
	if !strings.HasPrefix(op, "aws.greengrass#") {
		s.violate("conn %d: stream %d: operation header %q", c.n, id, op)
	}
	if ct != "application/json" {
		s.violate("conn %d: stream %d: content type %q", c.n, id, ct)
	}
	if model != op+"Request" {
		s.violate("conn %d: stream %d: service-model-type %q, want %q", c.n, id, model, op+"Request")
	}
	name := strings.TrimPrefix(op, "aws.greengrass#")
	respond := func(body string, terminate bool) {
		var f int32
		if terminate {
			f = flagTerminate
		}
		c.write(typeApp, f, id, jsonHeaders(op+"Response"), []byte(body))
	}
	switch name {
	case "PublishToIoTCore", "PublishToTopic":
		return c.publish(id, name, m.Payload, respond)
	case "GetConfiguration":
		var req struct {
			ComponentName string   `json:"componentName"`
			KeyPath       []string `json:"keyPath"`
		}
		if !c.decode(id, name, m.Payload, &req) {
			return true
		}
		s.mu.Lock()
		var v any = s.config
		for _, k := range req.KeyPath {
			mm, ok := v.(map[string]any)
			if !ok {
				v = nil
				break
			}
			v = mm[k]
		}
		if v == nil {
			s.mu.Unlock()
			c.modeledError(id, "ResourceNotFoundError", "Key not found")
			return true
		}
		if _, ok := v.(map[string]any); !ok {
			v = map[string]any{req.KeyPath[len(req.KeyPath)-1]: v}
		}
		body, _ := json.Marshal(map[string]any{"componentName": ComponentName, "value": v})
		s.mu.Unlock()
		respond(string(body), true)
	case "SubscribeToConfigurationUpdate":
		var req struct {
			KeyPath []string `json:"keyPath"`
		}
		if !c.decode(id, name, m.Payload, &req) {
			return true
		}
		c.mu.Lock()
		c.subs[id] = req.KeyPath
		c.mu.Unlock()
		respond("{}", false)
	case "UpdateState":
		var req struct {
			State string `json:"state"`
		}
		if !c.decode(id, name, m.Payload, &req) {
			return true
		}
		switch req.State {
		case "RUNNING", "ERRORED":
		default:
			c.modeledError(id, "InvalidArgumentsError", "state must be RUNNING or ERRORED")
			return true
		}
		s.mu.Lock()
		s.states = append(s.states, req.State)
		s.mu.Unlock()
		respond("{}", true)
	default:
		body, _ := json.Marshal(map[string]string{"error": "Unsupported Operation", "message": op + " is an unsupported operation."})
		c.write(typeErr, flagTerminate, id, eventstream.Headers{{Name: ":content-type", Value: eventstream.StringValue("application/json")}}, body)
	}
	return true
}

// decode parses a request strictly enough to catch client bugs; a parse
// failure answers InvalidArgumentsError.
func (c *sconn) decode(id int32, op string, payload []byte, v any) bool {
	d := json.NewDecoder(bytes.NewReader(payload))
	if err := d.Decode(v); err != nil {
		c.s.violate("conn %d: stream %d: %s request %q: %v", c.n, id, op, payload, err)
		c.modeledError(id, "InvalidArgumentsError", "Invalid request")
		return false
	}
	return true
}

func (c *sconn) modeledError(id int32, code, msg string) {
	body, _ := json.Marshal(map[string]string{
		"_service":   "aws.greengrass#GreengrassCoreIPC",
		"_message":   msg,
		"_errorCode": code,
		"message":    msg,
	})
	c.write(typeErr, flagTerminate, id, jsonHeaders("aws.greengrass#"+code), body)
}

func (c *sconn) publish(id int32, op string, payload []byte, respond func(string, bool)) bool {
	s := c.s
	p := Publish{Op: op, Conn: c.n, Stream: id}
	if op == "PublishToIoTCore" {
		var req struct {
			TopicName *string         `json:"topicName"`
			QoS       json.RawMessage `json:"qos"`
			Payload   *[]byte         `json:"payload"`
		}
		if !c.decode(id, op, payload, &req) {
			return true
		}
		switch {
		case req.TopicName == nil || *req.TopicName == "":
			c.modeledError(id, "InvalidArgumentsError", "topicName is required")
			return true
		case req.Payload == nil:
			c.modeledError(id, "InvalidArgumentsError", "Payload is required")
			return true
		case string(req.QoS) != `"0"` && string(req.QoS) != `"1"`:
			s.violate("conn %d: stream %d: qos %s, want the string \"0\" or \"1\"", c.n, id, req.QoS)
			c.modeledError(id, "InvalidArgumentsError", "QoS is required")
			return true
		case strings.ContainsAny(*req.TopicName, "+#") || strings.Count(*req.TopicName, "/") > 7 || len(*req.TopicName) > 256:
			c.modeledError(id, "InvalidArgumentsError", "Invalid topic")
			return true
		}
		p.Topic, p.QoS, p.Payload = *req.TopicName, strings.Trim(string(req.QoS), `"`), *req.Payload
	} else {
		var req struct {
			Topic          string `json:"topic"`
			PublishMessage struct {
				BinaryMessage *struct {
					Message []byte `json:"message"`
				} `json:"binaryMessage"`
				JSONMessage *struct {
					Message json.RawMessage `json:"message"`
				} `json:"jsonMessage"`
			} `json:"publishMessage"`
		}
		if !c.decode(id, op, payload, &req) {
			return true
		}
		pm := req.PublishMessage
		switch {
		case req.Topic == "" || (pm.BinaryMessage == nil) == (pm.JSONMessage == nil):
			c.modeledError(id, "InvalidArgumentsError", "topic and exactly one of binaryMessage, jsonMessage are required")
			return true
		case pm.BinaryMessage != nil:
			p.Payload = pm.BinaryMessage.Message
		default:
			p.Payload = pm.JSONMessage.Message
		}
		p.Topic = req.Topic
	}
	s.mu.Lock()
	hook := s.onPublish
	s.mu.Unlock()
	var rep Reply
	if hook != nil {
		rep = hook(p)
	}
	switch {
	case rep.Drop:
		return false
	case rep.Raw != nil:
		c.writeRaw(rep.Raw)
	case rep.Unmodeled:
		c.write(typeErr, flagTerminate, id, eventstream.Headers{{Name: ":content-type", Value: eventstream.StringValue("text/plain")}}, []byte("InternalServerError"))
	case rep.Error != "":
		c.modeledError(id, rep.Error, rep.Message)
	default:
		s.mu.Lock()
		s.publishes = append(s.publishes, p)
		s.mu.Unlock()
		respond("{}", true)
	}
	return true
}

// EndSubscriptions ends every configuration subscription from the server
// side (an empty application message with TERMINATE_STREAM), as the nucleus
// does when it closes a stream.
func (s *Server) EndSubscriptions() {
	s.mu.Lock()
	cs := make([]*sconn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.mu.Lock()
		ids := make([]int32, 0, len(c.subs))
		for id := range c.subs {
			ids = append(ids, id)
		}
		clear(c.subs)
		c.mu.Unlock()
		for _, id := range ids {
			c.write(typeApp, flagTerminate, id, nil, nil)
		}
	}
}

// Stop stops listening and drops every connection, as a stopped nucleus
// does; Start listens again on the same path.
func (s *Server) Stop() {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	ln.Close()
	s.DropAll()
}

// Start listens again after Stop.
func (s *Server) Start() error {
	ln, err := net.Listen("unix", s.Path)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go s.accept()
	return nil
}

// Ping sends PING on every connection; clients must answer PING_RESPONSE.
func (s *Server) Ping() {
	s.mu.Lock()
	cs := make([]*sconn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.write(typePing, 0, 0, nil, []byte("ping"))
	}
}

// Pongs is the number of PING_RESPONSEs received.
func (s *Server) Pongs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pongs
}
