package camera

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// eeWords is the size of the EEPROM, 0x2400..0x273F.
const eeWords = 832

//go:embed testdata/eeprom_device_b.json
var deviceBJSON []byte

// DeviceB returns the EEPROM of a real MLX90640 (device B of the shared
// test vectors; provenance in testdata/eeprom_device_b.json): the default
// calibration of the simulated camera.
func DeviceB() (*[832]uint16, error) {
	var doc struct {
		EEPROM []uint16 `json:"eeprom"`
	}
	ee := new([eeWords]uint16)
	if err := json.Unmarshal(deviceBJSON, &doc); err != nil {
		return nil, fmt.Errorf("camera: embedded EEPROM: %w", err)
	}
	if len(doc.EEPROM) != eeWords {
		return nil, fmt.Errorf("camera: embedded EEPROM has %d words, want %d", len(doc.EEPROM), eeWords)
	}
	copy(ee[:], doc.EEPROM)
	return ee, nil
}
