// Package bench holds the agent's end-to-end benchmarks: how long a
// publisher takes to drain a day of spooled backlog to a real MQTT broker,
// and how much CPU the whole agent spends per simulated hour. They only run
// with -bench (make bench); docs/benchmarks-publish.md has the numbers.
//
//	go test -run '^$' -bench 'Drain24h|CPUPerSimHour' -benchtime 1x ./test/bench/
package bench
