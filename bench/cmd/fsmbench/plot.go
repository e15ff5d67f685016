//go:build linux

package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// The upload plot: bytes through the origin's downlink (dashed) and the
// site's uplink (solid) over time, one colour per path. Drawn by hand on a
// paletted image, which keeps the PNG a few KiB and the harness free of a
// plotting library.

const (
	plotW, plotH           = 760, 470
	padL, padR, padT, padB = 64, 16, 34, 100 // the legend goes below the axis
	legendDY               = 16
)

var plotPalette = color.Palette{
	color.White,
	color.Black,
	color.Gray{Y: 0xdd},                // grid
	color.RGBA{0x99, 0x99, 0x99, 0xff}, // baseline
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, // first fsm path
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, // second
	color.RGBA{0xd6, 0x27, 0x28, 0xff}, // third
	color.RGBA{0x94, 0x67, 0xbd, 0xff}, // fourth
	color.RGBA{0x55, 0x55, 0x55, 0xff}, // axis text
	color.RGBA{0xf0, 0xf0, 0xf0, 0xff}, // legend box
	color.RGBA{0xff, 0x7f, 0x0e, 0xff}, // spare
	color.RGBA{0x8c, 0x56, 0x4b, 0xff}, // spare
	color.RGBA{0x17, 0xbe, 0xcf, 0xff}, // spare
	color.RGBA{0xbc, 0xbd, 0x22, 0xff}, // spare
	color.RGBA{0xe3, 0x77, 0xc2, 0xff}, // spare
	color.RGBA{0x7f, 0x7f, 0x7f, 0xff}, // spare
}

const (
	cWhite uint8 = iota
	cBlack
	cGrid
	cBase
	cFirst
)

type canvas struct{ img *image.Paletted }

func (c canvas) dot(x, y int, ci uint8) {
	for dx := 0; dx < 2; dx++ {
		for dy := 0; dy < 2; dy++ {
			if image.Pt(x+dx, y+dy).In(c.img.Rect) {
				c.img.SetColorIndex(x+dx, y+dy, ci)
			}
		}
	}
}

// line draws from (x0,y0) to (x1,y1); dash > 0 draws dash pixels on, dash
// off, counting from *phase so a polyline's dashes run on across segments.
func (c canvas) line(x0, y0, x1, y1 int, ci uint8, dash int, phase *int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		if dash == 0 || (*phase/dash)%2 == 0 {
			c.dot(x0, y0, ci)
		}
		*phase++
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func (c canvas) text(x, y int, s string, ci uint8) {
	d := font.Drawer{Dst: c.img, Src: image.NewUniform(plotPalette[ci]), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func textWidth(s string) int { return font.MeasureString(basicfont.Face7x13, s).Round() }

func abs(v int) int { return max(v, -v) }

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// niceStep picks a grid step of 1, 2 or 5 times a power of ten giving about
// n lines over span.
func niceStep(span float64, n int) float64 {
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// writePlot draws all series (the first is the baseline) into a PNG at path.
func writePlot(path, title string, all []series, size int64) error {
	img := image.NewPaletted(image.Rect(0, 0, plotW, plotH), plotPalette)
	c := canvas{img}
	var tMax float64
	for _, s := range all {
		if n := len(s.samples); n > 0 {
			tMax = max(tMax, s.samples[n-1].t.Seconds())
		}
	}
	if tMax == 0 {
		return fmt.Errorf("plot: no samples")
	}
	yMax := float64(size) / 1e6 * 1.05
	x0, x1, y0, y1 := padL, plotW-padR, plotH-padB, padT
	px := func(t float64) int { return x0 + int(t/tMax*float64(x1-x0)) }
	py := func(mb float64) int { return y0 - int(mb/yMax*float64(y0-y1)) }
	// Grid and axes.
	phase := 0
	xs := niceStep(tMax, 8)
	for t := 0.0; t <= tMax+1e-9; t += xs {
		c.line(px(t), y0, px(t), y1, cGrid, 0, &phase)
		l := fmt.Sprintf("%g", math.Round(t*100)/100)
		c.text(px(t)-textWidth(l)/2, y0+16, l, cBlack)
	}
	ys := niceStep(yMax, 6)
	for mb := 0.0; mb <= yMax; mb += ys {
		c.line(x0, py(mb), x1, py(mb), cGrid, 0, &phase)
		l := fmt.Sprintf("%g", mb)
		c.text(x0-8-textWidth(l), py(mb)+4, l, cBlack)
	}
	c.line(x0, y0, x1, y0, cBlack, 0, &phase)
	c.line(x0, y0, x0, y1, cBlack, 0, &phase)
	c.text((x0+x1)/2-textWidth("seconds")/2, y0+30, "seconds", cBlack)
	c.text(6, padT-8, "MB", cBlack)
	c.text(x0, 20, title, cBlack)
	// Curves, then the legend over them.
	for i, s := range all {
		ci := cBase
		if i > 0 {
			ci = cFirst + uint8(i-1)%4
		}
		for _, dash := range []int{8, 0} { // downloaded dashed, uploaded solid
			phase := 0
			for j := 1; j < len(s.samples); j++ {
				a, b := s.samples[j-1], s.samples[j]
				va, vb := float64(a.up), float64(b.up)
				if dash > 0 {
					va, vb = float64(a.down), float64(b.down)
				}
				c.line(px(a.t.Seconds()), py(va/1e6), px(b.t.Seconds()), py(vb/1e6), ci, dash, &phase)
			}
		}
		// Below the axis: inside, some curve always runs under it.
		legendX := x0
		y := y0 + 48 + i*legendDY
		c.line(legendX, y-4, legendX+24, y-4, ci, 0, &phase)
		c.text(legendX+32, y, s.label, cBlack)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("plot dir: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return f.Close()
}
