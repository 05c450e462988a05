package sitewise

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iotsitewise"
	"github.com/aws/aws-sdk-go-v2/service/iotsitewise/types"

	"github.com/stirling-iot/stirling/pipeline"
	"github.com/stirling-iot/stirling/publish"
)

// entry is one PutAssetPropertyValueEntry: up to MaxValues readings of one
// alias.
type entry struct {
	id    string
	alias string
	idx   []int // reading indices
}

// Send implements publish.Publisher.
func (p *Publisher) Send(ctx context.Context, b *pipeline.Batch, res []publish.Result) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	rs := b.Readings
	now := p.clk.Now()
	oldest, newest := now.Add(-p.maxAge), now.Add(p.maxFuture)

	// Validate and group by alias, keeping first-appearance order.
	var order []string
	groups := map[string][]int{}
	for i := range rs {
		r := &rs[i]
		var reason string
		switch {
		case r.Time.Before(oldest):
			reason = fmt.Sprintf("timestamp %s is more than %v old, outside SiteWise's accepted window (reading quarantined)", r.Time.UTC().Format(time.RFC3339), p.maxAge)
			p.st.count(&p.st.outOfWindow, 1)
		case r.Time.After(newest):
			reason = fmt.Sprintf("timestamp %s is more than %v ahead of now (%s), outside SiteWise's accepted window; check the clock (reading quarantined)", r.Time.UTC().Format(time.RFC3339), p.maxFuture, now.UTC().Format(time.RFC3339))
			p.st.count(&p.st.outOfWindow, 1)
		case r.Text == "" && (math.IsNaN(r.Value) || math.IsInf(r.Value, 0)):
			reason = "value is not a finite number"
		}
		a := p.alias(r.Metric)
		if reason == "" {
			if err := validAlias(a); err != nil {
				reason = err.Error()
			}
		}
		if reason != "" {
			res[i] = publish.Result{Status: publish.Rejected, Reason: reason}
			p.st.rejectLocal(1)
			p.log.Warn("reading rejected before sending", "metric", r.Metric, "seq", r.Seq, "reason", reason)
			continue
		}
		if _, ok := groups[a]; !ok {
			order = append(order, a)
		}
		groups[a] = append(groups[a], i)
	}

	// Entries of up to MaxValues, interleaved across aliases so that each
	// request spreads over properties and no alias's rate stalls the rest.
	var entries []entry
	for round := 0; ; round++ {
		added := false
		for _, a := range order {
			idx := groups[a]
			lo := round * MaxValues
			if lo >= len(idx) {
				continue
			}
			hi := min(lo+MaxValues, len(idx))
			entries = append(entries, entry{alias: a, idx: idx[lo:hi], id: entryID(b.ID, len(entries))})
			added = true
		}
		if !added {
			break
		}
	}

	for start := 0; start < len(entries); start += MaxEntries {
		req := entries[start:min(start+MaxEntries, len(entries))]
		if err := p.waitRate(ctx, req); err != nil {
			p.retryRest(res, entries[start:], err)
			return fmt.Errorf("sitewise: batch %d: %w", b.ID, err)
		}
		if err := p.put(ctx, rs, req, res); err != nil {
			p.retryRest(res, entries[start:], err)
			return fmt.Errorf("sitewise: batch %d: %w", b.ID, err)
		}
	}
	return nil
}

// entryID is unique within a Send (and so within a request) and matches
// ^[a-zA-Z0-9_-]+$, at most 64 characters.
func entryID(batch uint64, k int) string {
	return "b" + strconv.FormatUint(batch, 10) + "-" + strconv.Itoa(k)
}

// retryRest leaves every reading of es still undecided as Retry with err as
// the reason.
func (p *Publisher) retryRest(res []publish.Result, es []entry, err error) {
	n := 0
	for _, e := range es {
		for _, i := range e.idx {
			if res[i].Status == publish.Retry {
				res[i].Reason = err.Error()
				n++
			}
		}
	}
	p.st.count(&p.st.retried, uint64(n))
}

// put sends one request and records each reading's outcome. It returns an
// error only for a retryable whole-request failure.
func (p *Publisher) put(ctx context.Context, rs []pipeline.Reading, es []entry, res []publish.Result) error {
	in := &iotsitewise.BatchPutAssetPropertyValueInput{Entries: make([]types.PutAssetPropertyValueEntry, len(es))}
	for k, e := range es {
		vals := make([]types.AssetPropertyValue, len(e.idx))
		for j, i := range e.idx {
			vals[j] = p.value(&rs[i])
		}
		in.Entries[k] = types.PutAssetPropertyValueEntry{
			EntryId:        aws.String(e.id),
			PropertyAlias:  aws.String(e.alias),
			PropertyValues: vals,
		}
	}
	p.st.count(&p.st.requests, 1)
	ctx, cancel := context.WithTimeout(ctx, maxRequestTimeout)
	defer cancel()
	out, err := p.client.BatchPutAssetPropertyValue(ctx, in)
	if err != nil {
		code, retryable := classify(err)
		p.st.requestError(code)
		if unauthorizedCodes[code] {
			// The role lacks the permission, or the key is unknown: an
			// operator's fix, not the readings' fault. They wait in the
			// spool (the runner logs the failure once, then a minute).
			p.log.Debug("request refused: not authorized; will retry", "code", code, "err", err)
			return fmt.Errorf("sitewise: request refused: %s: %s (%w): %w", code, errMessage(err), publish.ErrUnauthorized, err)
		}
		if retryable {
			p.log.Debug("request failed; will retry", "code", code, "err", err)
			return err
		}
		reason := "SiteWise rejected the request: " + code + ": " + errMessage(err)
		n := 0
		for _, e := range es {
			for _, i := range e.idx {
				res[i] = publish.Result{Status: publish.Rejected, Reason: reason}
				n++
			}
		}
		p.st.rejectCode(code, uint64(n))
		p.log.Error("request rejected", "code", code, "readings", n, "err", err)
		return nil
	}

	failed := map[string][]types.BatchPutAssetPropertyError{}
	for _, ee := range out.ErrorEntries {
		if ee.EntryId != nil {
			failed[*ee.EntryId] = append(failed[*ee.EntryId], ee.Errors...)
		}
	}
	for _, e := range es {
		errs, bad := failed[e.id]
		if !bad {
			for _, i := range e.idx {
				res[i] = publish.Result{Status: publish.Accepted}
			}
			p.st.count(&p.st.accepted, uint64(len(e.idx)))
			continue
		}
		p.entryErrors(rs, e, errs, res)
	}
	return nil
}

// entryErrors applies an error entry to its readings. An error that lists
// timestamps applies to the readings with those timestamps, one without
// timestamps to the whole entry. Readings of a failed entry that no error
// names are retried: whether SiteWise stored them is unknown, and a
// repeated value at the same timestamp simply overwrites.
func (p *Publisher) entryErrors(rs []pipeline.Reading, e entry, errs []types.BatchPutAssetPropertyError, res []publish.Result) {
	decided := map[int]bool{}
	for _, be := range errs {
		code := string(be.ErrorCode)
		retryable := retryableEntryCode(code)
		reason := code
		if be.ErrorMessage != nil {
			reason += ": " + *be.ErrorMessage
		}
		for _, i := range e.idx {
			if decided[i] || (len(be.Timestamps) > 0 && !hasTimestamp(be.Timestamps, rs[i].Time)) {
				continue
			}
			decided[i] = true
			if retryable {
				res[i] = publish.Result{Status: publish.Retry, Reason: reason}
				p.st.retryCode(code, 1)
			} else {
				res[i] = publish.Result{Status: publish.Rejected, Reason: "SiteWise rejected the value: " + reason}
				p.st.rejectCode(code, 1)
			}
		}
		if !retryable {
			p.log.Error("values rejected", "alias", e.alias, "code", code, "err", reason)
		}
	}
	for _, i := range e.idx {
		if !decided[i] {
			res[i] = publish.Result{Status: publish.Retry, Reason: "entry " + e.id + " failed; value not named in its errors"}
			p.st.retryCode("unlisted", 1)
		}
	}
}

func hasTimestamp(ts []types.TimeInNanos, t time.Time) bool {
	s, ns := t.Unix(), int32(t.Nanosecond())
	for _, x := range ts {
		if aws.ToInt64(x.TimeInSeconds) == s && aws.ToInt32(x.OffsetInNanos) == ns {
			return true
		}
	}
	return false
}

// value converts a reading to a TQV.
func (p *Publisher) value(r *pipeline.Reading) types.AssetPropertyValue {
	var v types.Variant
	switch {
	case r.Text != "":
		v.StringValue = aws.String(r.Text)
	case p.bools[r.Metric]:
		v.BooleanValue = aws.Bool(r.Value != 0)
	default:
		v.DoubleValue = aws.Float64(r.Value)
	}
	q := types.QualityGood
	switch r.Quality {
	case pipeline.Uncertain:
		q = types.QualityUncertain
	case pipeline.Bad:
		q = types.QualityBad
	}
	return types.AssetPropertyValue{
		Value:     &v,
		Quality:   q,
		Timestamp: &types.TimeInNanos{TimeInSeconds: aws.Int64(r.Time.Unix()), OffsetInNanos: aws.Int32(int32(r.Time.Nanosecond()))},
	}
}

// retryableEntryCode: per-entry errors that may succeed later.
func retryableEntryCode(code string) bool {
	switch types.BatchPutAssetPropertyValueErrorCode(code) {
	case types.BatchPutAssetPropertyValueErrorCodeThrottlingException,
		types.BatchPutAssetPropertyValueErrorCodeInternalFailureException,
		types.BatchPutAssetPropertyValueErrorCodeServiceUnavailableException:
		return true
	case types.BatchPutAssetPropertyValueErrorCodeInvalidRequestException,
		types.BatchPutAssetPropertyValueErrorCodeTimestampOutOfRangeException,
		types.BatchPutAssetPropertyValueErrorCodeResourceNotFoundException,
		types.BatchPutAssetPropertyValueErrorCodeAccessDeniedException,
		types.BatchPutAssetPropertyValueErrorCodeConflictingOperationException,
		types.BatchPutAssetPropertyValueErrorCodeLimitExceededException:
		return false
	}
	return true // unknown: do not drop data on a code we do not know
}
