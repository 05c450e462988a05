package greengrass

import (
	"encoding/json"
	"errors"
	"strings"
)

// Sentinel errors.
var (
	// ErrConnectRejected: the nucleus answered CONNECT without the accepted
	// flag. The SVCUID is wrong or missing (the component was not started by
	// this nucleus), or the protocol version was refused.
	ErrConnectRejected = errors.New("greengrass: IPC connect rejected (check SVCUID)")
	// ErrNoSocket: no socket path was given and
	// AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT is unset (not
	// running under Greengrass).
	ErrNoSocket = errors.New("greengrass: no IPC socket (AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT unset)")
	// ErrNoToken: no auth token was given and SVCUID is unset.
	ErrNoToken = errors.New("greengrass: no IPC auth token (SVCUID unset)")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("greengrass: client closed")
	// ErrDisconnected: the connection dropped while a call was in flight.
	// The outcome of that call is unknown; it is safe to retry.
	ErrDisconnected = errors.New("greengrass: IPC connection lost")
	// ErrProtocol: the server sent PROTOCOL_ERROR or INTERNAL_ERROR on the
	// connection, or a reply this client does not understand.
	ErrProtocol = errors.New("greengrass: IPC protocol error")
)

// Error is an APPLICATION_ERROR returned by the nucleus for one operation.
type Error struct {
	Op      string // operation, e.g. "PublishToIoTCore"
	Code    string // error shape without namespace, e.g. "UnauthorizedError"; "InternalServerError" when unmodeled
	Message string
}

func (e *Error) Error() string {
	return "greengrass: " + e.Op + ": " + e.Code + ": " + e.Message
}

// Retryable reports whether the operation may succeed if repeated: the
// nucleus's server-side errors (ServiceError, an unmodeled
// InternalServerError). Client errors (UnauthorizedError,
// InvalidArgumentsError, ResourceNotFoundError, ...) will fail again.
// This follows the IPC SDKs, where is_retryable() holds exactly for errors
// of type "server".
func (e *Error) Retryable() bool {
	switch e.Code {
	case "ServiceError", "InternalServerError":
		return true
	}
	return false
}

// parseError builds an *Error from an APPLICATION_ERROR frame.
func parseError(op string, f frame) *Error {
	e := &Error{Op: op}
	model := headerString(f.headers, hdrModelType)
	if ct := headerString(f.headers, hdrContentType); model == "" && !strings.HasPrefix(ct, contentJSON) {
		// Unmodeled error: text/plain body, usually "InternalServerError".
		e.Code = "InternalServerError"
		e.Message = truncate(string(f.payload), 256)
		return e
	}
	var body struct {
		ErrorCode string `json:"_errorCode"`
		Message   string `json:"_message"`
		Msg       string `json:"message"`
		Error     string `json:"error"`
	}
	_ = json.Unmarshal(f.payload, &body) // best effort: fall back to the header
	e.Code = strings.TrimPrefix(model, modelPrefix)
	if e.Code == "" {
		e.Code = body.ErrorCode
	}
	if e.Code == "" && body.Error != "" {
		e.Code = strings.ReplaceAll(body.Error, " ", "") // {"error":"Unsupported Operation"}
	}
	if e.Code == "" {
		e.Code = "UnknownError"
	}
	e.Message = body.Message
	if e.Message == "" {
		e.Message = body.Msg
	}
	if e.Message == "" {
		e.Message = truncate(string(f.payload), 256)
	}
	return e
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
