// Package e2e runs the real stirling binary against a real mosquitto: the
// simulated engine in accelerated virtual time goes through the agent's
// pipeline, spool and MQTT publisher to the broker, and a subscriber checks
// that every reading arrives, in order, without gaps, across broker outages
// and an agent SIGKILL.
//
// Knobs (environment):
//
//	STIRLING_E2E_SPEEDUP  virtual-time factor for the outage tests (default 100:
//	                      one simulated hour in 36 s)
//	STIRLING_E2E_REPORT   file the figures are appended to (default
//	                      <repo>/bin/e2e-report.txt)
package e2e
