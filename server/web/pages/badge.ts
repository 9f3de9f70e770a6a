// SVG status badges (shields.io's flat look): /:org/jobsets/:branch/badge.svg and …/jobs/:attr/badge.svg.

const colours: Record<string, string> = {
  passing: "#2ea44f",
  succeeded: "#2ea44f",
  cached: "#2ea44f",
  failing: "#cf222e",
  failed: "#cf222e",
  "dependency-failed": "#cf222e",
  "timed-out": "#cf222e",
  aborted: "#cf222e",
  running: "#1f6feb",
  queued: "#bf8700",
};

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
// Verdana 11px is about 6.5 px a character: good enough for a badge's width.
const width = (s: string) => Math.round(s.length * 6.5 + 12);

export function badgeSvg(label: string, status: string): string {
  const lw = width(label);
  const sw = width(status);
  const colour = colours[status] ?? "#6e7781";
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${lw + sw}" height="20" role="img" aria-label="${esc(label)}: ${esc(status)}"><title>${esc(label)}: ${esc(status)}</title><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="${lw + sw}" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="${lw}" height="20" fill="#555"/><rect x="${lw}" width="${sw}" height="20" fill="${colour}"/><rect width="${lw + sw}" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11"><text x="${lw / 2}" y="14">${esc(label)}</text><text x="${lw + sw / 2}" y="14">${esc(status)}</text></g></svg>`;
}
