package sitewise

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestSDKPastGO20265764: the SiteWise client linked in is at least
// v1.52.19, the first release without GO-2026-5764.
func TestSDKPastGO20265764(t *testing.T) {
	const mod, fixed = "github.com/aws/aws-sdk-go-v2/service/iotsitewise", "v1.52.19"
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == mod {
			if less(f[1], fixed) {
				t.Fatalf("go.mod requires %s %s: want %s or later (GO-2026-5764)", mod, f[1], fixed)
			}
			return
		}
	}
	t.Fatalf("go.mod does not require %s", mod)
}

// less compares vMAJOR.MINOR.PATCH versions (pre-release suffixes sort
// before their release).
func less(a, b string) bool {
	pa, pb := parts(a), parts(b)
	for i := range pa {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return strings.Contains(a, "-") && !strings.Contains(b, "-")
}

func parts(v string) [3]int {
	var out [3]int
	v, _, _ = strings.Cut(strings.TrimPrefix(v, "v"), "-")
	for i, s := range strings.SplitN(v, ".", 3) {
		out[i], _ = strconv.Atoi(s)
	}
	return out
}
