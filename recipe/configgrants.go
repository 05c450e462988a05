package recipe

import (
	"fmt"
	"os"

	"github.com/stirling-iot/stirling/configs"
)

// GrantsFor returns the publish grants a greengrass publisher's topic is
// checked against before the agent starts (`stirling config check`): those
// of the recipe file when it is set (the recipe that is deployed), or else
// those of the recipe `stirling recipe --config FILE [--topic-prefix P]`
// renders from cfg.
func GrantsFor(cfg *configs.Config, file, prefix string) (Grants, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return Grants{}, fmt.Errorf("config check: --recipe: %w", err)
		}
		return ParseGrants(b)
	}
	m, err := ConfigMap(cfg)
	if err != nil {
		return Grants{}, err
	}
	if prefix != "" {
		// With a prefix, IoT Core publishers add nothing to the grant (and
		// Render refuses one outside it, which the start gate reports with
		// its line): render without them.
		var keep []any
		list, _ := m["publishers"].([]any)
		for _, p := range list {
			if pm, _ := p.(map[string]any); pm["type"] == configs.TypeGreengrass && pm["destination"] != "local" {
				continue
			}
			keep = append(keep, p)
		}
		m["publishers"] = keep
	}
	r, err := Render(&Opts{Version: "0.0.0", Artifacts: "s3://config-check", Config: m, TopicPrefix: prefix})
	if err != nil {
		return Grants{}, err
	}
	return GrantsOf(r), nil
}
