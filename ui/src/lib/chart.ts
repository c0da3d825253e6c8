/**
 * Chart.js for the reports, as a Svelte action on a <canvas>: `use:chart={spec}`. Only the parts
 * the reports draw are registered (bars, lines, doughnuts, category and linear axes, legend,
 * tooltip), so the rest stays out of the bundle. A new spec updates the chart in place (the same
 * datasets get new numbers and animate to them) instead of drawing a new one, so a live refresh
 * does not flash; the chart is destroyed with its canvas.
 */
import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  DoughnutController,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  PointElement,
  Tooltip,
  type ChartConfiguration,
  type ChartData,
} from 'chart.js';
import type { Action } from 'svelte/action';

Chart.register(
  BarController,
  BarElement,
  LineController,
  LineElement,
  PointElement,
  DoughnutController,
  ArcElement,
  CategoryScale,
  LinearScale,
  Legend,
  Tooltip,
);

Chart.defaults.font.family = "'Noto Sans TC', 'PingFang TC', 'Microsoft JhengHei', system-ui, sans-serif";
Chart.defaults.font.size = 13;
Chart.defaults.color = '#5b6475';
Chart.defaults.maintainAspectRatio = false;

export type ChartSpec = ChartConfiguration<'bar' | 'line' | 'doughnut', number[], string>;

/** The store's colours (app.css), then a few that read well beside them. */
export const PALETTE = {
  member: '#17694a',
  walkIn: '#9bb8ab',
  accent: '#c2410c',
  warn: '#d99a00',
  muted: '#aab1bd',
  danger: '#b42318',
  series: ['#17694a', '#2f80ed', '#c2410c', '#d99a00', '#7c3aed', '#0e9384', '#b42318', '#5b6475'],
} as const;

function applyData(target: ChartData<'bar' | 'line' | 'doughnut', number[], string>, next: ChartSpec['data']): void {
  target.labels = next.labels;
  next.datasets.forEach((dataset, i) => {
    const current = target.datasets[i];
    // The same object keeps its drawing state, so the bars move to the new values.
    if (current) Object.assign(current, dataset);
    else target.datasets[i] = dataset;
  });
  target.datasets.length = next.datasets.length;
}

export const chart: Action<HTMLCanvasElement, ChartSpec> = (canvas, spec) => {
  let instance = new Chart(canvas, spec);
  let type = spec.type;
  return {
    update(next: ChartSpec) {
      if (next.type !== type) {
        instance.destroy();
        instance = new Chart(canvas, next);
        type = next.type;
        return;
      }
      applyData(instance.data, next.data);
      instance.options = next.options ?? {};
      instance.update();
    },
    destroy() {
      instance.destroy();
    },
  };
};
