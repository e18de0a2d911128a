// Scraping a daemon's Prometheus endpoint in tests: a plain HTTP/1.1 (or
// HTTPS) GET as Prometheus sends it, and the text parsed by a real parser
// (parse-prometheus-text-format), with lookups by name and labels.
import parsePrometheusTextFormat, { type PrometheusFamily, type PrometheusSample } from 'parse-prometheus-text-format';
import { type GetOptions, httpGet } from './http-get.js';

export { httpGet };

/**
 * One scrape, parsed. parse-prometheus-text-format 1.1 folds every series of
 * a histogram into one (it keeps the buckets of all label sets under one key
 * and drops labelled _count and _sum lines), so the text is parsed twice: as
 * given, for the families and their types, and with histogram and summary
 * families declared untyped, where each _bucket, _count and _sum line is a
 * sample of its own with all its labels.
 */
export class Scrape {
  private readonly families: Map<string, PrometheusFamily>;
  /** Samples by series name, gathered over every run of lines with that name. */
  private readonly series = new Map<string, PrometheusSample[]>();

  constructor(readonly text: string) {
    this.families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
    const untyped = text.replace(/^# TYPE (\S+) (histogram|summary)$/gm, '# TYPE $1 untyped');
    // Series of one histogram interleave (a_bucket..., a_sum, a_count, a_bucket... for the next labels): each run is a family.
    for (const f of parsePrometheusTextFormat(untyped)) this.series.set(f.name, [...(this.series.get(f.name) ?? []), ...f.metrics]);
  }

  family(name: string): PrometheusFamily {
    const f = this.families.get(name);
    if (f === undefined) throw new Error(`the scrape has no metric ${name}`);
    return f;
  }

  /** The samples of `name` (a family, or one histogram line like x_count) whose labels include all of `labels`. */
  samples(name: string, labels: Record<string, string> = {}): PrometheusSample[] {
    const all = this.series.get(name);
    if (all === undefined) throw new Error(`the scrape has no series ${name}`);
    return all.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  }

  /** The sum of the matching samples' values (0 when none matches). */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.samples(name, labels).reduce((n, m) => n + Number(m.value), 0);
  }

  /** The _count of the one matching series of histogram `name`. */
  histogramCount(name: string, labels: Record<string, string>): number {
    const [series, ...more] = this.samples(`${name}_count`, labels);
    if (series === undefined || more.length > 0) throw new Error(`expected one ${name} series for ${JSON.stringify(labels)}, got ${more.length + (series ? 1 : 0)}`);
    return Number(series.value);
  }
}

export async function scrape(url: string, opts: GetOptions = {}): Promise<Scrape> {
  const answer = await httpGet(url, opts);
  if (answer.status !== 200) throw new Error(`GET ${url}: HTTP ${answer.status}: ${answer.body}`);
  return new Scrape(answer.body);
}
