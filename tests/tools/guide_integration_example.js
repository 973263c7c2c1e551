// Establish WebSocket connection
const token = getAuthToken(); // Get token from your auth system
const notificationSocket = new WebSocket(`wss://your-domain.com/api/v1/ws/notifications?token=${token}`);

// Handle connection open
notificationSocket.onopen = (event) => {
  console.log("Connected to notifications WebSocket");
};

// Handle incoming messages
notificationSocket.onmessage = (event) => {
  const message = JSON.parse(event.data);
  
  if (message.type === "notification") {
    // Display notification in UI
    showNotification(message.data);
  }
};

// Handle errors
notificationSocket.onerror = (error) => {
  console.error("WebSocket error:", error);
};

// Handle connection close
notificationSocket.onclose = (event) => {
  console.log("Disconnected from notifications WebSocket");
  
  // Optional: Implement reconnection logic
  setTimeout(reconnectWebSocket, 5000);
};

// Cleanup on page unload
window.addEventListener("beforeunload", () => {
  if (notificationSocket) {
    notificationSocket.close();
  }
});
