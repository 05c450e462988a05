package greengrass

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stirling-iot/stirling/configs"
	"github.com/stirling-iot/stirling/internal/testsrv/ipctest"
)

// TestWatchConfigurationConfigs wires WatchConfiguration to the YAML
// file's validation (configs.FromMap), as cmd/stirling does: a deployment
// with an unknown key is rejected with the key named, and the valid
// configuration stays in force.
func TestWatchConfigurationConfigs(t *testing.T) {
	t.Setenv(configs.EnvThingName, "gg-core")
	srv := ipctest.New(t, token)
	srv.SetConfig(nil, map[string]any{
		"accessControl": map[string]any{},
		"agent": map[string]any{
			"sensors":    map[string]any{"bus": "sim"},
			"pipeline":   map[string]any{"window": "2s"},
			"publishers": []any{map[string]any{"type": "greengrass"}},
		},
	})
	c := dial(t, srv)
	got := make(chan *configs.Config, 4)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- c.WatchConfiguration(ctx, []string{"agent"}, func(m map[string]any) error {
			cfg, err := configs.FromMap(m)
			if err != nil {
				return err
			}
			got <- cfg
			return nil
		})
	}()
	select {
	case cfg := <-got:
		if cfg.Pipeline.Window != 2*time.Second {
			t.Fatalf("window %v", cfg.Pipeline.Window)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("first configuration not applied")
	}
	srv.SetConfig([]string{"agent", "pipeline"}, map[string]any{"window": "2s", "windw": "5s"})
	for deadline := time.Now().Add(5 * time.Second); c.Stats().ConfigRejected != 1; {
		if time.Now().After(deadline) {
			t.Fatal("invalid deployment not rejected")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case cfg := <-got:
		t.Fatalf("invalid configuration applied: %+v", cfg)
	default:
	}
	_, err := configs.FromMap(map[string]any{"pipeline": map[string]any{"windw": "5s"}})
	if err == nil || !strings.Contains(err.Error(), "pipeline.windw") {
		t.Fatalf("configs.FromMap does not name the key: %v", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
