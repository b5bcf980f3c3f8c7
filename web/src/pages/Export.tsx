import { shows } from '../api';

export function ExportPage() {
  return (
    <section className="page narrow">
      <h1>Export your shows</h1>
      <p>Download every show you logged, to keep or to open elsewhere.</p>
      <div className="cards two">
        <a className="card link-card" href={shows.exportCsvUrl()} download data-testid="export-csv">
          <strong>Spreadsheet (CSV)</strong>
          <span>Artist, venue, city, date, rating, notes — opens in any spreadsheet app.</span>
        </a>
        <a className="card link-card" href={shows.calendarUrl()} download data-testid="export-ics">
          <strong>Calendar (iCal)</strong>
          <span>Every show as a calendar event, for Google Calendar, Apple Calendar or Outlook.</span>
        </a>
      </div>
    </section>
  );
}
