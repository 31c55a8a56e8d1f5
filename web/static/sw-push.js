// Web Push: show pushed notifications and open the page they are about.
// The payload is small and carries no personal data: kind, venue name, dates, the URL to open.
const PUSH_TITLES = {
  id: {
    exposure_alert: "Anda kontak erat dengan kasus positif",
    venue_alert: "Kasus positif mengunjungi tempat yang Anda datangi",
    hotspot_venue: "Kasus positif mengunjungi tempat Anda",
    occupancy_alert: "Tempat Anda hampir penuh",
    "case_status.pending": "Hasil positif Anda tercatat, menunggu konfirmasi",
    "case_status.confirmed": "Kasus positif Anda dikonfirmasi: mulai isolasi",
    isolation_reminder: "Isi laporan kesehatan harian Anda",
  },
  en: {
    exposure_alert: "You were in close contact with a positive case",
    venue_alert: "A positive case visited a place you were at",
    hotspot_venue: "A positive case visited your venue",
    occupancy_alert: "Your venue is nearly full",
    "case_status.pending": "Your positive result was recorded, awaiting confirmation",
    "case_status.confirmed": "Your positive case is confirmed: start isolating",
    isolation_reminder: "Fill in your daily health report",
  },
};

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = {};
  }
  const language = (self.navigator.language || "id").startsWith("en") ? "en" : "id";
  const titles = PUSH_TITLES[language];
  const title = titles[`${data.kind}.${data.status}`] || titles[data.kind] || "Singgah";
  event.waitUntil(
    self.registration.showNotification(title, {
      body: data.venue_name || "",
      tag: data.id ? `singgah-${data.id}` : undefined,
      data: { url: data.url || "/alerts" },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/alerts";
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      for (const client of windows) {
        if ("focus" in client) {
          client.navigate(url);
          return client.focus();
        }
      }
      return self.clients.openWindow(url);
    }),
  );
});
