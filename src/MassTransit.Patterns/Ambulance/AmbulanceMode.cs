namespace MassTransit.Patterns.Ambulance;

/// <summary>How the lane's consumers behave when the lane is empty.</summary>
public enum AmbulanceMode
{
    /// <summary>
    /// Idle lane slots take normal work; urgent work gets the next slot that frees, ahead of any
    /// waiting normal message, so an urgent message waits at most for the work already in flight.
    /// Normal and urgent work share one concurrency budget (queue slots plus lane slots).
    /// </summary>
    Ambulance = 0,

    /// <summary>
    /// Lane slots serve the lane only: an urgent message never waits for normal work, at the price
    /// of lane slots standing idle when there is no urgent work.
    /// </summary>
    Carpool = 1
}
