using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit.Serialization;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// Reads and rewrites raw bodies: a MassTransit JSON envelope (the message under <c>message</c>) or a
/// plain JSON body. Anything else is carried as bytes and only a person can change it.
/// </summary>
static class WorkflowBody
{
    static readonly Encoding Utf8 = new UTF8Encoding(false, true);

    public static bool IsEnvelope(JsonObject root) => root.ContainsKey("message") && (root.ContainsKey("messageType") || root.ContainsKey("messageId"));

    static JsonObject? ParseObject(byte[] body)
    {
        try
        {
            return JsonNode.Parse(body) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Deserializes the message of type <typeparamref name="T"/> from an envelope or a plain JSON body.</summary>
    public static bool TryRead<T>(byte[] body, out T? message)
        where T : class
    {
        message = null;
        var root = ParseObject(body);
        if (root is null)
            return false;
        var node = IsEnvelope(root) ? root["message"] : root;
        try
        {
            message = node?.Deserialize<T>(SystemTextJsonMessageSerializer.Options);
            return message is not null;
        }
        catch (JsonException)
        {
            return false;
        }
        catch (NotSupportedException)
        {
            return false;
        }
    }

    /// <summary>The body with the message replaced, keeping the envelope (ids, headers, addresses) when there is one.</summary>
    public static byte[] Replace<T>(byte[] body, T message)
        where T : class
    {
        var replacement = JsonSerializer.SerializeToNode(message, SystemTextJsonMessageSerializer.Options);
        var root = ParseObject(body);
        if (root is not null && IsEnvelope(root))
        {
            root["message"] = replacement;
            return JsonSerializer.SerializeToUtf8Bytes(root, SystemTextJsonMessageSerializer.Options);
        }
        return JsonSerializer.SerializeToUtf8Bytes(replacement, SystemTextJsonMessageSerializer.Options);
    }

    /// <summary>Writes the lineage headers into an envelope's own headers (where MassTransit reads them); other bodies are returned unchanged.</summary>
    public static byte[] WithLineage(byte[] body, Guid originalId, int attempt, string resubmittedBy)
    {
        var root = ParseObject(body);
        if (root is null || !IsEnvelope(root))
            return body;
        if (root["headers"] is not JsonObject headers)
            root["headers"] = headers = new JsonObject();
        headers[WorkflowHeaders.OriginalMessageId] = originalId.ToString();
        headers[WorkflowHeaders.Attempt] = attempt;
        headers[WorkflowHeaders.ResubmittedBy] = resubmittedBy;
        return JsonSerializer.SerializeToUtf8Bytes(root, SystemTextJsonMessageSerializer.Options);
    }

    /// <summary>The body as text: UTF-8 when it is, otherwise base64.</summary>
    public static (string Text, bool IsBase64) ToText(byte[] body)
    {
        try
        {
            return (Utf8.GetString(body), false);
        }
        catch (DecoderFallbackException)
        {
            return (Convert.ToBase64String(body), true);
        }
    }

    public static string Preview(byte[] body, int max = 256)
    {
        var (text, isBase64) = ToText(body);
        var shown = text.Length <= max ? text : text[..max] + "…";
        return isBase64 ? "base64:" + shown : shown;
    }

    /// <summary>
    /// What changed between two bodies: for JSON, the changed paths with old and new values (at most
    /// <paramref name="maxChanges"/>), e.g. <c>message.quantity: -5 -&gt; 5</c>; otherwise a preview of the old body.
    /// </summary>
    public static string Diff(byte[] before, byte[] after, int maxChanges = 10)
    {
        JsonNode? a, b;
        try
        {
            a = JsonNode.Parse(before);
            b = JsonNode.Parse(after);
        }
        catch (JsonException)
        {
            return "before: " + Preview(before);
        }

        var changes = new List<string>();
        Compare(a, b, "", changes, maxChanges + 1);
        if (changes.Count == 0)
            return "no change in content";
        var shown = string.Join(", ", changes.Take(maxChanges));
        return changes.Count > maxChanges ? shown + ", …" : shown;
    }

    static void Compare(JsonNode? a, JsonNode? b, string path, List<string> changes, int limit)
    {
        if (changes.Count >= limit)
            return;
        if (a is JsonObject oa && b is JsonObject ob)
        {
            foreach (var key in oa.Select(p => p.Key).Union(ob.Select(p => p.Key)))
                Compare(oa[key], ob[key], path.Length == 0 ? key : path + "." + key, changes, limit);
            return;
        }
        if (a is JsonArray aa && b is JsonArray ab && aa.Count == ab.Count)
        {
            for (var i = 0; i < aa.Count; i++)
                Compare(aa[i], ab[i], $"{path}[{i}]", changes, limit);
            return;
        }
        if (!JsonNode.DeepEquals(a, b))
            changes.Add($"{(path.Length == 0 ? "(root)" : path)}: {Short(a)} -> {Short(b)}");
    }

    static string Short(JsonNode? node)
    {
        var text = node?.ToJsonString() ?? "(none)";
        return text.Length <= 80 ? text : text[..80] + "…";
    }
}
