package greengrass

import (
	"context"
	"encoding/json"
	"fmt"
)

// invoke runs a request/response operation and decodes its response into
// resp (which may be nil).
func (c *Client) invoke(ctx context.Context, op string, req, resp any) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.CallTimeout)
	defer cancel()
	cn, err := c.conn(ctx)
	if err != nil {
		c.countErr(err)
		return fmt.Errorf("greengrass: %s: %w", op, err)
	}
	c.stats.calls.Add(1)
	f, _, err := cn.call(ctx, op, req, nil, nil)
	if err != nil {
		c.countErr(err)
		return err
	}
	if resp != nil && len(f.payload) > 0 {
		if err := json.Unmarshal(f.payload, resp); err != nil {
			c.countError("protocol")
			return fmt.Errorf("%w: %s: decode response: %w", ErrProtocol, op, err)
		}
	}
	return nil
}

// QoS is an MQTT quality of service as IPC spells it: the strings "0" and "1".
type QoS string

// QoS levels.
const (
	AtMostOnce  QoS = "0"
	AtLeastOnce QoS = "1"
)

// PublishToIoTCore hands payload to the nucleus for publishing to AWS IoT
// Core on topic. Success means only that the nucleus queued the message in
// its spooler (in memory by default, 2.5 MB, oldest dropped when full; QoS 1
// messages are dropped after 100 failed publish attempts). It is not a
// PUBACK from IoT Core.
func (c *Client) PublishToIoTCore(ctx context.Context, topic string, qos QoS, payload []byte) error {
	req := struct {
		TopicName string `json:"topicName"`
		QoS       QoS    `json:"qos"`
		Payload   []byte `json:"payload"` // base64 with padding, as Gson expects
	}{topic, qos, payload}
	if payload == nil {
		req.Payload = []byte{} // the nucleus rejects a null payload
	}
	if err := c.invoke(ctx, "PublishToIoTCore", req, nil); err != nil {
		return err
	}
	c.stats.queuedInNucleus.Add(1)
	return nil
}

// GetConfiguration returns this component's configuration at keyPath (all
// of it for an empty keyPath). For a leaf key the nucleus wraps the value as
// {"<leafKey>": value}.
func (c *Client) GetConfiguration(ctx context.Context, keyPath []string) (map[string]any, error) {
	if keyPath == nil {
		keyPath = []string{}
	}
	req := struct {
		KeyPath []string `json:"keyPath"`
	}{keyPath}
	var resp struct {
		Value map[string]any `json:"value"`
	}
	if err := c.invoke(ctx, "GetConfiguration", req, &resp); err != nil {
		return nil, err
	}
	if resp.Value == nil {
		resp.Value = map[string]any{}
	}
	return resp.Value, nil
}

// State is a component state reported with UpdateState.
type State string

// States a component may report.
const (
	StateRunning State = "RUNNING"
	StateErrored State = "ERRORED"
)

// UpdateState reports the component's state to the nucleus (needed only
// with a Startup lifecycle step).
func (c *Client) UpdateState(ctx context.Context, s State) error {
	req := struct {
		State State `json:"state"`
	}{s}
	return c.invoke(ctx, "UpdateState", req, nil)
}

// PublishToTopic publishes payload as a binary message on the nucleus's
// local pub/sub bus (other components, not IoT Core).
func (c *Client) PublishToTopic(ctx context.Context, topic string, payload []byte) error {
	if payload == nil {
		payload = []byte{}
	}
	type binaryMessage struct {
		Message []byte `json:"message"`
	}
	type publishMessage struct {
		BinaryMessage binaryMessage `json:"binaryMessage"`
	}
	req := struct {
		Topic          string         `json:"topic"`
		PublishMessage publishMessage `json:"publishMessage"`
	}{topic, publishMessage{binaryMessage{payload}}}
	if err := c.invoke(ctx, "PublishToTopic", req, nil); err != nil {
		return err
	}
	c.stats.queuedInNucleus.Add(1)
	return nil
}
