using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using MassTransit.Patterns.QueueDepth;
using Microsoft.Extensions.Options;

namespace MassTransit.Patterns.RabbitMQ.QueueDepth;

/// <summary>
/// Reads a RabbitMQ queue's ready and unacknowledged counts from the management HTTP API. The
/// broker refreshes these statistics every <c>collect_statistics_interval</c> (5 s by default), so a
/// reading may lag the queue by that much; use it where in-flight work must count as depth.
/// </summary>
public sealed class RabbitMqManagementQueueDepthProbe : IQueueDepthProbe
{
    readonly HttpClient _http;
    readonly RabbitMqManagementProbeOptions _options;
    readonly TimeProvider _time;

    /// <summary>Creates the probe over an <see cref="HttpClient"/> (from the client factory).</summary>
    public RabbitMqManagementQueueDepthProbe(HttpClient http, IOptions<RabbitMqManagementProbeOptions> options, TimeProvider? time = null)
    {
        _http = http;
        _options = options.Value;
        _time = time ?? TimeProvider.System;
        _http.BaseAddress ??= _options.BaseAddress;
        _http.Timeout = _options.RequestTimeout;
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{_options.UserName}:{_options.Password}")));
    }

    /// <inheritdoc />
    public string Name => "rabbitmq-management";

    /// <inheritdoc />
    public bool KnowsUnacknowledged => true;

    /// <inheritdoc />
    public async Task<QueueDepthSample> GetDepthAsync(string queue, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(queue);
        var path = $"api/queues/{Uri.EscapeDataString(_options.VirtualHost)}/{Uri.EscapeDataString(queue)}";
        HttpResponseMessage response;
        try
        {
            response = await _http.GetAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (TaskCanceledException exception) when (!cancellationToken.IsCancellationRequested)
        {
            throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.Timeout, $"no answer within {_options.RequestTimeout}.", exception);
        }
        catch (HttpRequestException exception)
        {
            throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.Unreachable, $"{_options.BaseAddress} could not be reached: {exception.Message}", exception);
        }

        using (response)
        {
            switch (response.StatusCode)
            {
                case HttpStatusCode.NotFound:
                    throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.QueueNotFound, $"the management API has no queue '{queue}' in virtual host '{_options.VirtualHost}'.");
                case HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden:
                    throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.Unreachable, $"the management API refused user '{_options.UserName}' ({(int)response.StatusCode}).");
                case >= HttpStatusCode.BadRequest:
                    throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.Unreachable, $"the management API answered {(int)response.StatusCode}.");
            }

            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            using var json = await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken).ConfigureAwait(false);
            var root = json.RootElement;
            if (root.ValueKind == JsonValueKind.Array && root.GetArrayLength() == 1)
                root = root[0];
            if (root.ValueKind != JsonValueKind.Object)
                throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.InvalidResponse, $"expected a queue object, got {root.ValueKind}.");
            // A queue declared a moment ago has no statistics until the broker's next collection.
            if (!root.TryGetProperty("messages_ready", out var ready) || !root.TryGetProperty("messages_unacknowledged", out var unacked))
                throw new QueueDepthProbeException(queue, Name, QueueDepthFailure.InvalidResponse, "the broker has not collected statistics for this queue yet.");

            int? consumers = root.TryGetProperty("consumers", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetInt32() : null;
            return new QueueDepthSample(queue, ready.GetInt64(), unacked.GetInt64(), consumers, _time.GetUtcNow());
        }
    }
}
