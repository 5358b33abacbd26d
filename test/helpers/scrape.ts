/** One scrape of a role's `/metrics`: each sample by its name and labels, as Prometheus writes them. */
export class Scrape {
  private constructor(private readonly samples: ReadonlyMap<string, number>) {}

  static async of(httpPort: number): Promise<Scrape> {
    const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
    if (response.status !== 200) throw new Error(`GET /metrics on port ${httpPort}: ${response.status}`);
    return Scrape.parse(await response.text());
  }

  /** The text format: `name{label="value",...} number` per line, `#` lines are help and types. */
  static parse(text: string): Scrape {
    const samples = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const match = /^([a-zA-Z_:][\w:]*(?:\{.*\})?) (\S+)$/.exec(line);
      if (!match) throw new Error(`not a sample line: ${line}`);
      samples.set(match[1]!, Number(match[2]));
    }
    return new Scrape(samples);
  }

  /** The sum over every sample of `name` whose labels include `labels` (0 when there is none). */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.matching(name, labels).reduce((total, value) => total + value, 0);
  }

  /** Whether there is a sample of `name` whose labels include `labels`. */
  has(name: string, labels: Record<string, string> = {}): boolean {
    return this.matching(name, labels).length > 0;
  }

  private matching(name: string, labels: Record<string, string>): number[] {
    const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    const found: number[] = [];
    for (const [key, value] of this.samples) {
      const brace = key.indexOf('{');
      const sampleName = brace < 0 ? key : key.slice(0, brace);
      if (sampleName === name && wanted.every((label) => key.includes(label))) found.push(value);
    }
    return found;
  }
}
