using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit.Serialization;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// Checks a person's edited body before the processor accepts it. The rule:
/// <list type="bullet">
/// <item>A body larger than <see cref="WorkflowProcessorOptions.MaxEditedBodyBytes"/> is refused.</item>
/// <item>A JSON content type (<c>*/json</c>, <c>*+json</c>; none given means MassTransit's envelope) must parse as JSON.</item>
/// <item>A MassTransit envelope (content type <c>application/vnd.masstransit+json</c>, or a JSON object with <c>message</c>
/// and <c>messageType</c>/<c>messageId</c>) must have a <c>message</c> object and a non-empty <c>messageType</c> array of URNs.</item>
/// <item>When a message type URN (the envelope's, else the ones received) names a .NET type the processor knows, the
/// message must deserialize to it with MassTransit's System.Text.Json options (<see cref="SystemTextJsonMessageSerializer.Options"/>).
/// The processor knows the types of the registered typed repairers and those added with
/// <see cref="WorkflowProcessorOptions.AddMessageType{T}"/>; no other type is looked up.</item>
/// <item>Other content types (XML, binary...) are not checked beyond their size.</item>
/// </list>
/// </summary>
static class WorkflowEditCheck
{
    /// <summary>Null when <paramref name="body"/> is acceptable, else the reason it is refused.</summary>
    public static string? Refusal(byte[] body, string? contentType, IEnumerable<string> receivedTypes, IReadOnlyDictionary<string, Type> known, int maxBytes)
    {
        if (body.Length > maxBytes)
            return $"The body is {body.Length} bytes; an edited body may have at most {maxBytes} (WorkflowProcessorOptions.MaxEditedBodyBytes).";

        var mediaType = MediaType(contentType);
        var envelopeType = mediaType is null || mediaType == SystemTextJsonMessageSerializer.JsonContentType.MediaType;
        if (!envelopeType && !IsJson(mediaType!))
            return null;

        JsonNode? root;
        try
        {
            root = JsonNode.Parse(body);
        }
        catch (JsonException e)
        {
            return $"The body is not valid JSON ({mediaType ?? SystemTextJsonMessageSerializer.JsonContentType.MediaType}): {e.Message}";
        }

        var envelope = envelopeType || (root is JsonObject o && WorkflowBody.IsEnvelope(o));
        JsonNode? message = root;
        IEnumerable<string> types = receivedTypes;
        if (envelope)
        {
            if (root is not JsonObject obj)
                return "A MassTransit envelope (application/vnd.masstransit+json) must be a JSON object.";
            if (obj["message"] is not JsonObject inner)
                return "A MassTransit envelope (application/vnd.masstransit+json) needs a \"message\" object.";
            if (obj["messageType"] is not JsonArray urns || urns.Count == 0
                || urns.Any(u => u is not JsonValue v || !v.TryGetValue<string>(out var s) || !s.StartsWith("urn:message:", StringComparison.Ordinal)))
                return "A MassTransit envelope (application/vnd.masstransit+json) needs \"messageType\": a non-empty array of message type URNs (urn:message:...).";
            message = inner;
            types = [.. urns.Select(u => u!.GetValue<string>())];
        }

        foreach (var urn in types)
        {
            if (!known.TryGetValue(urn, out var type))
                continue;
            try
            {
                if (message.Deserialize(type, SystemTextJsonMessageSerializer.Options) is null)
                    return $"The message does not deserialize to {type.FullName}: it is null.";
            }
            catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or FormatException or ArgumentException)
            {
                return $"The message does not deserialize to {type.FullName}: {e.Message}";
            }
        }
        return null;
    }

    /// <summary>The .NET types the processor knows, by message type URN: the typed repairers' and the options'.</summary>
    public static Dictionary<string, Type> KnownTypes(WorkflowProcessorOptions options, WorkflowRepairerRegistry? registry)
    {
        var known = new Dictionary<string, Type>(StringComparer.Ordinal);
        foreach (var type in options.MessageTypes.Concat(registry?.MessageTypes ?? []))
            known.TryAdd(MessageUrn.ForTypeString(type), type);
        return known;
    }

    static string? MediaType(string? contentType)
    {
        if (string.IsNullOrWhiteSpace(contentType))
            return null;
        var semicolon = contentType.IndexOf(';', StringComparison.Ordinal);
        return (semicolon < 0 ? contentType : contentType[..semicolon]).Trim().ToLowerInvariant();
    }

    static bool IsJson(string mediaType) => mediaType.EndsWith("/json", StringComparison.Ordinal) || mediaType.EndsWith("+json", StringComparison.Ordinal);
}
