using System.Diagnostics;
using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Diagnostics;

namespace MassTransit.Patterns.EventForwarding;

/// <summary>
/// Sends one message until the broker confirms it: each attempt is bounded by
/// <see cref="EventForwardingOptions.SendTimeout"/>, a failed or unconfirmed attempt is repeated up to
/// <see cref="EventForwardingOptions.ResendLimit"/> times with a doubling pause, and every attempt
/// must carry the same message id (the caller's attempt delegate sets it) so that a copy that did
/// arrive is dropped by the consumer's inbox. Used by <see cref="IEventForwarder"/> and by outbox
/// delivery services.
/// </summary>
sealed class EventForwardingSendPolicy
{
    readonly EventForwardingOptions _options;
    readonly KeyValuePair<string, object?> _source;
    readonly EventForwardingMetrics _metrics;

    /// <summary>Creates the policy; <paramref name="source"/> tags its metrics (e.g. <c>producer</c>, <c>outbox</c>).</summary>
    public EventForwardingSendPolicy(EventForwardingOptions options, string source, EventForwardingMetrics metrics)
    {
        _options = options.EnsureValid();
        _source = EventForwardingMetrics.SourceTag(source);
        _metrics = metrics;
    }

    /// <summary>The options the policy applies.</summary>
    public EventForwardingOptions Options => _options;

    /// <summary>
    /// Runs <paramref name="attempt"/> until it completes (the broker confirmed), at most
    /// 1 + <see cref="EventForwardingOptions.ResendLimit"/> times. Returns the number of attempts made.
    /// </summary>
    /// <param name="messageId">The id every attempt sends, for the exception and the logs.</param>
    /// <param name="attempt">Sends the message once, honouring the token it is given (which carries the send timeout).</param>
    /// <param name="cancellationToken">Cancels the whole send; a cancelled send throws <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="MessageNotConfirmedException">No attempt was confirmed.</exception>
    public async Task<int> SendAsync(Guid messageId, Func<CancellationToken, Task> attempt, CancellationToken cancellationToken = default)
    {
        var delay = _options.ResendInterval;
        for (var attempts = 1; ; attempts++)
        {
            Exception failure;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                timeout.CancelAfter(_options.SendTimeout);
                var started = Stopwatch.GetTimestamp();
                Task? sending = null;
                try
                {
                    // Bounded here, not only by the token: against a hung broker (TCP open, nothing answering) a send
                    // attempt does not end when its token is cancelled. An abandoned attempt that is confirmed later
                    // carries the same message id, so the consumer's inbox drops the copy.
                    sending = attempt(timeout.Token);
                    await sending.WaitAsync(_options.SendTimeout, cancellationToken).ConfigureAwait(false);
                    _metrics.Confirmed.Add(1, _source);
                    _metrics.Totals.CountConfirmed();
                    return attempts;
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    if (sending is not null)
                        AbandonedTask.Observe(sending);
                    throw;
                }
                catch (TimeoutException) when (sending is { IsCompleted: false })
                {
                    AbandonedTask.Observe(sending);
                    failure = new TimeoutException(
                        $"not confirmed within {_options.SendTimeout} (the attempt ignored its cancellation; abandoned after {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms)");
                }
                catch (Exception exception) when (IsPermanent(exception))
                {
                    _metrics.Unconfirmed.Add(1, _source);
                    _metrics.Totals.CountUnconfirmed();
                    throw;
                }
                catch (OperationCanceledException) when (timeout.IsCancellationRequested)
                {
                    failure = new TimeoutException(
                        $"not confirmed within {_options.SendTimeout} (waited {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms)");
                }
                catch (Exception exception)
                {
                    failure = exception;
                }
            }

            if (attempts > _options.ResendLimit)
            {
                _metrics.Unconfirmed.Add(1, _source);
                _metrics.Totals.CountUnconfirmed();
                throw new MessageNotConfirmedException(messageId, attempts, failure);
            }

            _metrics.Resends.Add(1, _source);
            _metrics.Totals.CountResend();
            if (delay > TimeSpan.Zero)
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.SendTimeout.Ticks));
        }
    }

    /// <summary>Failures that the same send would hit again: resending them only delays the error.</summary>
    static bool IsPermanent(Exception exception) =>
        exception is EventForwardingViolationException or ArgumentException or System.Runtime.Serialization.SerializationException or NotSupportedException;
}
