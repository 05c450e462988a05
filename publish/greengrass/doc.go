// Package greengrass is a pure-Go client for AWS IoT Greengrass V2
// interprocess communication (IPC) and a publish.Publisher built on it.
//
// There is no official Go IPC SDK. The protocol is event-stream RPC over the
// Unix socket the nucleus names in
// AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT: binary frames with a
// CRC-checked prelude and typed headers, a CONNECT handshake that carries
// the component's SVCUID, and one stream per operation with client-chosen
// ids that must grow by exactly one. Frames are encoded and decoded with
// github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream, behind a reader
// that checks lengths and the prelude CRC before anything is allocated.
//
// # Operations
//
//   - PublishToIoTCore (QoS 1) and PublishToTopic
//   - GetConfiguration, SubscribeToConfigurationUpdate and WatchConfiguration,
//     which applies a deployment's configuration change live
//   - UpdateState
//
// # What success means
//
// PublishToIoTCore succeeds once the nucleus has queued the message in its
// MQTT spooler (in memory by default, 2.5 MB, oldest dropped when full;
// QoS 1 messages dropped after 100 failed attempts). It is not a PUBACK from
// IoT Core. The counters say so: Stats().QueuedInNucleus.
//
// # Errors
//
// Operation failures are *Error values with the IPC error code.
// ServiceError and unmodeled server errors are retryable; UnauthorizedError
// (no accessControl policy), InvalidArgumentsError and the other client
// errors are not. A lost connection fails the calls in flight with
// ErrDisconnected; the client reconnects with backoff, starts stream ids at
// 1 again and re-subscribes.
package greengrass
