// fhirgraph's GraphiQL page (graph/ide.py): the example query, and an access token sent with every request —
// as Authorization over HTTP, and in connection_init on the websocket (subscriptions). The token stays in this
// page's memory: it is never stored.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("ide-config").textContent);
  var endpoint = new URL(config.endpoint, window.location.href);
  var socket = new URL(endpoint.href);
  socket.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";
  var e = React.createElement;

  function fetcherFor(token) {
    var auth = token ? { Authorization: "Bearer " + token } : {};
    return GraphiQL.createFetcher({
      url: endpoint.href,
      subscriptionUrl: socket.href,
      headers: auth,
      wsConnectionParams: auth,
    });
  }

  function Ide() {
    var state = React.useState("");
    var token = state[0];
    var setToken = state[1];
    React.useEffect(function () {
      var input = document.getElementById("token");
      function changed() { setToken(input.value.trim().replace(/^Bearer\s+/i, "")); }
      input.addEventListener("input", changed);
      return function () { input.removeEventListener("input", changed); };
    }, []);
    var fetcher = React.useMemo(function () { return fetcherFor(token); }, [token]);
    return e(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: config.query,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: false,
    });
  }

  document.getElementById("token-bar").addEventListener("submit", function (event) { event.preventDefault(); });
  ReactDOM.createRoot(document.getElementById("graphiql")).render(e(Ide));
})();
