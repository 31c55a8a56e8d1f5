// Web Push: show pushed notifications and open the page they are about (see the push issue).
