// Headless rendering: Vega-Lite → Vega → SVG (vega View with renderer 'none') → PNG (resvg). No browser.
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { VlSpec } from './charts.ts';

export async function renderSvg(spec: VlSpec): Promise<string> {
  const vgSpec = compile(spec as unknown as Parameters<typeof compile>[0]).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export function svgToPng(svg: string, scale = 2): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
    background: 'white',
  });
  return resvg.render().asPng();
}
