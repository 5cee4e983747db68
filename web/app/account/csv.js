// The attendance as CSV, built in the page from the JSON the owner already
// has (no server CSV endpoint yet). RFC 4180: every field quoted, quotes
// doubled, CRLF line ends. A field that a spreadsheet would run as a
// formula (it starts with = + - @, a tab or a carriage return) gets a
// leading ' so it stays text: names are typed by participants.

export const HEADER = ['Name', 'Web or phone', 'Number', 'Role', 'Joined', 'Left', 'Duration (s)', 'Reason'];

/** @param {string} value */
export function neutralise(value) {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

/** @param {string} value */
function field(value) {
  return `"${neutralise(value).replace(/"/g, '""')}"`;
}

/**
 * One row per attendance, as the CSV has it (before quoting).
 * @param {any} a an attendance of GET /conferences/{id}/sessions
 * @returns {string[]}
 */
export function row(a) {
  const seconds = a.left_at ? String(Math.max(0, Math.round((Date.parse(a.left_at) - Date.parse(a.joined_at)) / 1000))) : '';
  return [a.name, a.endpoint, a.phone_number || '', a.role, a.joined_at, a.left_at || '', seconds, a.left_reason || ''];
}

/**
 * @param {any[]} attendance
 * @returns {string}
 */
export function attendanceCsv(attendance) {
  return [HEADER, ...attendance.map(row)].map((r) => r.map(field).join(',')).join('\r\n') + '\r\n';
}

/**
 * Saves `text` as a file named `name`.
 * @param {string} name
 * @param {string} text
 * @param {string} type
 */
export function download(name, text, type) {
  saveBlob(name, new Blob([text], { type }));
}

/**
 * @param {string} name
 * @param {Blob} blob
 */
export function saveBlob(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

