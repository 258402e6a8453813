using System.Text.Json;
using System.Text.Json.Nodes;

namespace MassTransit.Patterns.Dashboard;

/// <summary>Hides the values of the configured headers, in the transport headers and in a MassTransit envelope body.</summary>
sealed class DashboardRedaction(PatternsDashboardOptions options)
{
    public const string Marker = "(redacted)";

    readonly string[] _patterns = [.. options.RedactedHeaders];

    public bool IsRedacted(string name)
    {
        foreach (var pattern in _patterns)
        {
            var starts = pattern.StartsWith('*');
            var ends = pattern.EndsWith('*');
            var core = pattern.Trim('*');
            var match = (starts, ends) switch
            {
                (true, true) => name.Contains(core, StringComparison.OrdinalIgnoreCase),
                (true, false) => name.EndsWith(core, StringComparison.OrdinalIgnoreCase),
                (false, true) => name.StartsWith(core, StringComparison.OrdinalIgnoreCase),
                _ => string.Equals(name, core, StringComparison.OrdinalIgnoreCase)
            };
            if (match)
                return true;
        }
        return false;
    }

    public Dictionary<string, string> Headers(IReadOnlyDictionary<string, string> headers) =>
        headers.ToDictionary(h => h.Key, h => IsRedacted(h.Key) ? Marker : h.Value, StringComparer.Ordinal);

    /// <summary>The body with the values of redacted headers inside a JSON envelope's <c>headers</c> replaced by the marker.</summary>
    public string Body(string body)
    {
        if (Envelope(body) is not { } root || root["headers"] is not JsonObject headers)
            return body;
        var changed = false;
        foreach (var name in headers.Select(h => h.Key).ToList())
            if (IsRedacted(name))
            {
                headers[name] = Marker;
                changed = true;
            }
        return changed ? root.ToJsonString() : body;
    }

    /// <summary>
    /// An edited body with each envelope header still showing the marker given back the stored value (the person saw
    /// the marker, not the value, and did not mean to change it).
    /// </summary>
    public string PutBack(string edited, string? stored)
    {
        if (stored is null || Envelope(edited) is not { } root || root["headers"] is not JsonObject headers
            || Envelope(stored) is not { } storedRoot || storedRoot["headers"] is not JsonObject storedHeaders)
            return edited;
        var changed = false;
        foreach (var name in headers.Select(h => h.Key).ToList())
            if (IsRedacted(name) && headers[name] is JsonValue value && value.TryGetValue<string>(out var text) && text == Marker
                && storedHeaders[name] is { } original)
            {
                headers[name] = original.DeepClone();
                changed = true;
            }
        return changed ? root.ToJsonString() : edited;
    }

    static JsonObject? Envelope(string body)
    {
        if (body.Length == 0 || body.TrimStart() is not ['{', ..])
            return null;
        try
        {
            return JsonNode.Parse(body) is JsonObject root && root.ContainsKey("message") && root.ContainsKey("headers") ? root : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
