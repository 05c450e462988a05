// Package mqtt publishes spooled batches to AWS IoT Core, or any MQTT 3.1.1
// broker, with paho.mqtt.golang over mutual TLS.
//
// Delivery contract: every message is published at QoS 1 and a reading counts
// as delivered (publish.Accepted) only after the broker's PUBACK for the
// message that carries it. A token that errors or is not acknowledged within
// AckTimeout leaves its readings at publish.Retry, so the spool sends them
// again: delivery is at least once, and every message carries the device, the
// batch id and the readings' spool sequence numbers so consumers can drop
// duplicates and detect gaps.
//
// Connection handling: the package runs its own reconnect loop instead of
// paho's AutoReconnect, with CleanSession=true. When the link drops, paho
// fails every outstanding publish token ("connection lost before Publish
// completed"), the next Connect wipes paho's in-memory store, and nothing
// stale is replayed behind the spool's back (paho's resume would re-send
// messages the spool is already retrying, and would complete their tokens
// without a PUBACK). While disconnected Send fails at once with
// ErrNotConnected; Ready (publish.Readier) returns a channel that receives a
// value each time the link comes up, so the runner retries at once.
//
// Reconnect attempts run every ReconnectInterval (default 250 ms, jittered
// down to half) while the broker is unreachable, and back off exponentially
// up to 2 minutes when the broker answers but refuses us (a CONNACK refusal,
// a TLS alert, a server certificate that does not verify), which also
// respects IoT Core's limit of one CONNECT per second per client ID.
package mqtt
