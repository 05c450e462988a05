package mlx90640_test

import (
	"context"
	"fmt"
	"log"
	"math"
	"time"

	"periph.io/x/conn/v3/physic"

	"github.com/stirling-iot/stirling/sensors"
	"github.com/stirling-iot/stirling/sensors/mlx90640"
	"github.com/stirling-iot/stirling/sensors/sim/camera"
)

// The calibration without a chip: the EEPROM dump gives the parameters, and
// the parameters turn one subpage of raw words into temperatures. Here the
// raw words are synthesized for a uniform 60 deg C scene (Synthesize is the
// inverse of Compute), as a simulator does; on a real device they come from
// Dev.ReadSubpage or a dump.
func ExampleExtractParameters() {
	ee := mlx90640.SampleEEPROM()
	p, err := mlx90640.ExtractParameters(ee)
	if err != nil {
		log.Fatal(err)
	}
	ctrl := ee[0x000C] // the power-on control register (0x240C): chess, 18 bit
	var scene, to [mlx90640.Pixels]float64
	for i := range scene {
		scene[i] = 60
	}
	var raw mlx90640.RawFrame
	p.Synthesize(0, ctrl, 25, 3.3, 0.95, math.NaN(), &scene, &raw)

	vdd, ta := p.Compute(&raw, 0.95, math.NaN(), &to) // tr NaN: Ta - 8
	n, sum := 0, 0.0
	for k := range to {
		if mlx90640.InSubpage(raw.Pattern(), raw.Subpage(), k) {
			n, sum = n+1, sum+to[k]
		}
	}
	fmt.Printf("%s pattern, subpage %d: Vdd %.2f V, Ta %.1f deg C\n", raw.Pattern(), raw.Subpage(), vdd, ta)
	fmt.Printf("%d pixels, mean %.1f deg C\n", n, sum/float64(n))
	// Output:
	// chess pattern, subpage 0: Vdd 3.30 V, Ta 25.0 deg C
	// 384 pixels, mean 60.0 deg C
}

// The driver on a bus: here the simulated camera, which answers I2C like
// the chip; on a Pi the bus is i2creg.Open("1"). Each NextFrame merges one
// subpage (half the pixels) into the caller's frame.
func ExampleNew() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bus, err := camera.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	opts := mlx90640.DefaultOpts()
	opts.RefreshRate = 64 * physic.Hertz
	dev, err := mlx90640.New(ctx, bus, &opts)
	if err != nil {
		log.Fatal(err)
	}
	defer dev.Halt()

	var f sensors.Frame
	for range 2 {
		if err := dev.NextFrame(ctx, &f); err != nil {
			log.Fatal(err)
		}
		valid := 0
		for _, v := range f.Valid {
			if v {
				valid++
			}
		}
		fmt.Printf("subpage %d merged: %d of %d pixels valid\n", f.Seq, valid, sensors.Pixels)
	}
	// Output:
	// subpage 1 merged: 384 of 768 pixels valid
	// subpage 2 merged: 768 of 768 pixels valid
}
