package mqtt

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Topic limits of AWS IoT Core. The Basic Ingest prefix $aws/rules/<rule>/ is
// not counted toward them.
const (
	MaxTopicBytes   = 256
	MaxTopicSlashes = 7
	// BasicIngestPrefix starts a Basic Ingest topic: $aws/rules/<rule>/...
	BasicIngestPrefix = "$aws/rules/"
)

// ErrTopic is wrapped by every topic validation error.
var ErrTopic = errors.New("mqtt: invalid topic")

// ValidateTopic checks a publish topic against the AWS IoT Core rules and the
// topic-design guidance: not empty, valid UTF-8 without NUL, no wildcards (+
// and #), no leading slash, no empty level, at most 256 bytes and 7 slashes.
// Topics starting with $ are reserved; the only one accepted is Basic Ingest,
// $aws/rules/<rule>[/<topic>], where rule is letters, digits and underscores
// and the limits apply to the part after the prefix.
func ValidateTopic(topic string) error {
	t := topic
	if strings.HasPrefix(t, "$") {
		if !strings.HasPrefix(t, BasicIngestPrefix) {
			return fmt.Errorf("%w %q: topics starting with $ are reserved (only %s<rule>/... is allowed)", ErrTopic, topic, BasicIngestPrefix)
		}
		rest := t[len(BasicIngestPrefix):]
		rule, after, hasRest := strings.Cut(rest, "/")
		if err := ValidateRuleName(rule); err != nil {
			return fmt.Errorf("%w %q: %v", ErrTopic, topic, err)
		}
		if !hasRest {
			return nil
		}
		t = after
		if t == "" {
			return fmt.Errorf("%w %q: empty topic after the Basic Ingest prefix", ErrTopic, topic)
		}
	}
	switch {
	case t == "":
		return fmt.Errorf("%w: empty", ErrTopic)
	case !utf8.ValidString(t):
		return fmt.Errorf("%w %q: not valid UTF-8", ErrTopic, topic)
	case strings.ContainsRune(t, 0):
		return fmt.Errorf("%w %q: contains NUL", ErrTopic, topic)
	case strings.ContainsAny(t, "+#"):
		return fmt.Errorf("%w %q: wildcards + and # are for subscriptions, not publishing", ErrTopic, topic)
	case strings.HasPrefix(t, "/"):
		return fmt.Errorf("%w %q: leading slash (it adds an empty level)", ErrTopic, topic)
	case strings.HasSuffix(t, "/") || strings.Contains(t, "//"):
		return fmt.Errorf("%w %q: empty topic level", ErrTopic, topic)
	case len(t) > MaxTopicBytes:
		return fmt.Errorf("%w %q: %d bytes, at most %d", ErrTopic, topic, len(t), MaxTopicBytes)
	case strings.Count(t, "/") > MaxTopicSlashes:
		return fmt.Errorf("%w %q: %d slashes, at most %d", ErrTopic, topic, strings.Count(t, "/"), MaxTopicSlashes)
	}
	return nil
}

// ValidateRuleName checks an AWS IoT rule name (letters, digits and
// underscores, 1 to 128 characters).
func ValidateRuleName(rule string) error {
	if rule == "" || len(rule) > 128 {
		return fmt.Errorf("rule name %q: want 1 to 128 characters", rule)
	}
	for _, c := range rule {
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return fmt.Errorf("rule name %q: only letters, digits and _ are allowed", rule)
		}
	}
	return nil
}
