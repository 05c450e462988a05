// Package sitewise publishes readings to AWS IoT SiteWise with
// BatchPutAssetPropertyValue, addressing each metric's property by alias
// (default /stirling/{thing}/{metric}).
//
// Credentials come from the AWS SDK's default chain, which under Greengrass
// is the token exchange service (AWS_CONTAINER_CREDENTIALS_FULL_URI and
// AWS_CONTAINER_AUTHORIZATION_TOKEN, set by the nucleus); the region from
// AWS_REGION or the configuration.
//
// The publisher keeps to the service limits: at most 10 entries per request,
// 10 values per entry, and 10 entries per second per property (it waits
// rather than be throttled). Readings whose timestamps SiteWise would refuse
// (older than 7 days, or more than 10 minutes ahead) are rejected before
// sending, so they go to quarantine instead of being retried forever.
//
// SiteWise meters ingestion per data stream in units of 10 data points (or
// 1 KB) per request. With Opts.MaxLatency the runner holds records until
// some property has 10 values waiting (publish.Packer), so each entry goes
// full.
//
// Outcomes per reading: an entry without an error is Accepted. Per-entry
// ThrottlingException, InternalFailureException and
// ServiceUnavailableException are retried; InvalidRequestException,
// TimestampOutOfRangeException, ResourceNotFoundException,
// AccessDeniedException, ConflictingOperationException and
// LimitExceededException are rejected with the service's message.
// Request-level failures are retried by the SDK first (HTTP 5xx, 429,
// network); what remains is retried later. AccessDeniedException and
// UnrecognizedClientException for the whole request are retried too, as
// publish.ErrUnauthorized (a permission to fix, not bad readings); other
// 4xx answers such as InvalidRequestException reject the request's
// readings.
package sitewise
